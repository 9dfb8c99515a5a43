package transfer

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Antigravity-Manager (lbjlaq/Antigravity-Manager, src-tauri/src/modules/token_stats.rs, commit 716d302)
// keeps ~/.antigravity_tools/token_stats.db (or $ABV_DATA_DIR/token_stats.db): token_usage holds one row
// per request — id, timestamp (chrono::Local::now().timestamp(): true unix seconds), account_email,
// model, input_tokens, output_tokens, cached_tokens (a column added later; older files lack it),
// total_tokens = input + output. Its proxy fills input_tokens from the usage of the protocol the client
// spoke: prompt_tokens or promptTokenCount (cached tokens included) for OpenAI and Gemini clients,
// Anthropic's input_tokens (cached tokens left out) for Claude clients; the row does not say which.

const (
	antigravitySource   = "antigravity-manager"
	antigravityIDPrefix = "antigravity-manager-db:"
)

type antigravityReader struct {
	sqlReader
	cached bool
	added  int64 // rows whose cached tokens were added to their input
}

func (a *antigravityReader) each(ctx context.Context, fn func(*item) error) error {
	cached := "0"
	if a.cached {
		cached = "cached_tokens"
	}
	q := `SELECT id, timestamp, account_email, model, input_tokens, output_tokens, ` + cached + ` FROM token_usage`
	return a.chunks(ctx, q, 7, func(v []any) error {
		id, _ := intOf(v[0])
		at := fmt.Sprintf("row id %d", id)
		var ts int64
		r := stats.Record{Account: textOf(v[2]), Model: textOf(v[3]), IsAntigravity: true,
			Source: antigravitySource, Kind: stats.KindImport}
		if skip := counts(at, []string{"timestamp", "input_tokens", "output_tokens", "cached_tokens"},
			[]any{v[1], v[4], v[5], v[6]}, []*int64{&ts, &r.InputTokens, &r.OutputTokens, &r.CachedTokens}); skip != nil {
			return fn(&item{at: at, skip: skip})
		}
		// Input includes cached tokens in Token Stats. More cached than input can only be a Claude
		// client's row, whose input left them out: they are added. A Claude row with fewer cached
		// tokens than input cannot be told from the others and is read as including them.
		if r.CachedTokens > r.InputTokens && r.CachedTokens >= 0 && r.InputTokens >= 0 {
			r.InputTokens += r.CachedTokens
			a.added++
		}
		r.Time = time.Unix(ts, 0)
		r.RequestID = derivedID(antigravityIDPrefix, id, fmt.Sprint(v[1]), r.Account, r.Model,
			fmt.Sprint(v[4]), fmt.Sprint(v[5]), fmt.Sprint(v[6]))
		if err := r.Validate(a.now); err != nil {
			return fn(&item{at: at, skip: skipOf(err, at)})
		}
		return fn(&item{rec: r, at: at})
	})
}

func (a *antigravityReader) notes() []string {
	var out []string
	if !a.cached {
		out = append(out, "the file predates Antigravity-Manager's cached_tokens column: cached tokens read as 0")
	}
	if a.added > 0 {
		out = append(out, fmt.Sprintf("%d rows had more cached tokens than input (a Claude client's count, "+
			"which leaves cached tokens out): their cached tokens were added to input", a.added))
	}
	return out
}
