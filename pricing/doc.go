// Package pricing turns a record's token counts into what they cost, in stats.Money.
//
// Prices come from a snapshot of LiteLLM's model_prices_and_context_window.json (MIT licence, see
// License), embedded in the binary and replaceable by a newer file (Parse, Fetch), plus per-model
// overrides. A Table is a snapshot with its overrides; Table.Lookup finds the entry that prices a model
// name as Token Stats sees it and says how it matched, and Rates.Cost does the arithmetic in integers.
// A model that matches nothing is unpriced, never free.
//
// The package is pure: no SQLite, no HTTP server, no UI. docs/prices.md describes the rules.
package pricing

//go:generate go run ../cmd/pricesnap -commit 667b9122e089a1972304540df6fd19f342b0e82a -date 2026-01-25T10:51:28+05:30 -out litellm_prices.json.gz
