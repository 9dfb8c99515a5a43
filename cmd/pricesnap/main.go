// Command pricesnap makes the price snapshot embedded in package pricing: it reads LiteLLM's
// model_prices_and_context_window.json at a commit, keeps what pricing uses (pricing.Parse), writes the
// trimmed form gzip-compressed, and prints the figures docs/prices.md quotes.
//
//	go run ./cmd/pricesnap -commit SHA -date RFC3339 [-in FILE] [-out pricing/litellm_prices.json.gz]
//
// Without -in it downloads the file at that commit from raw.githubusercontent.com.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pricesnap:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("pricesnap", flag.ContinueOnError)
	in := flags.String("in", "", "LiteLLM's model_prices_and_context_window.json (default: download it at -commit)")
	commit := flags.String("commit", "", "the LiteLLM commit the file comes from (required)")
	date := flags.String("date", "", "the commit's date, RFC 3339 (required)")
	out := flags.String("out", "litellm_prices.json.gz", "where to write the gzip-compressed trimmed snapshot")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *commit == "" || *date == "" {
		return errors.New("-commit and -date are required")
	}
	when, err := time.Parse(time.RFC3339, *date)
	if err != nil {
		return fmt.Errorf("-date: %w", err)
	}
	const file = "model_prices_and_context_window.json"
	var full []byte
	if *in != "" {
		if full, err = os.ReadFile(*in); err != nil {
			return err
		}
	} else if full, err = download("https://raw.githubusercontent.com/BerriAI/litellm/" + *commit + "/" + file); err != nil {
		return err
	}
	snap, err := pricing.Parse(bytes.NewReader(full))
	if err != nil {
		return err
	}
	snap = snap.WithSource(pricing.Source{
		URL:    "https://github.com/BerriAI/litellm/blob/" + *commit + "/" + file,
		Commit: *commit,
		Date:   when,
	})
	var trimmed bytes.Buffer
	if _, err := snap.WriteTo(&trimmed); err != nil {
		return err
	}
	var packed bytes.Buffer
	zw, err := gzip.NewWriterLevel(&packed, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(trimmed.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(*out, packed.Bytes(), 0o644); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(full, &all); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "LiteLLM file:       %d bytes, %d entries (sample_spec included)\n", len(full), len(all))
	fmt.Fprintf(stdout, "kept:               %d entries\n", snap.Len())
	fmt.Fprintf(stdout, "trimmed:            %d bytes\n", trimmed.Len())
	fmt.Fprintf(stdout, "trimmed, gzip -9:   %d bytes (%s)\n", packed.Len(), *out)
	return priceFigures(stdout, trimmed.Bytes())
}

func download(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return b.Bytes(), err
}

// priceFigures prints the smallest and largest prices kept and how many are not a whole number of
// femto-dollars (10⁻¹⁵ USD) or pico-dollars (10⁻¹² USD) per token: the facts behind pricing's unit.
func priceFigures(stdout io.Writer, trimmed []byte) error {
	var t struct {
		Models map[string]map[string]json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(trimmed, &t); err != nil {
		return err
	}
	femto := new(big.Rat).SetInt64(1e15)
	pico := new(big.Rat).SetInt64(1e12)
	var (
		count, zero, notFemto, notPico int
		min, max                       *big.Rat
		minAt, maxAt                   string
		errFemto, errPico              = new(big.Rat), new(big.Rat)
	)
	tiered, multiTiered := 0, 0
	for model, fields := range t.Models {
		inputTiers := 0
		for key := range fields {
			if strings.HasPrefix(key, "input_cost_per_token_above_") {
				inputTiers++
			}
		}
		if inputTiers > 0 {
			tiered++
		}
		if inputTiers > 1 {
			multiTiered++
		}
		for key, raw := range fields {
			if key == "litellm_provider" || key == "mode" {
				continue
			}
			v, ok := new(big.Rat).SetString(string(raw))
			if !ok {
				return fmt.Errorf("%s %s: %s is not a number", model, key, raw)
			}
			count++
			if v.Sign() == 0 {
				zero++
				continue
			}
			if e := roundingError(v, femto); e.Sign() != 0 {
				notFemto++
				errFemto = maxRat(errFemto, e)
			}
			if e := roundingError(v, pico); e.Sign() != 0 {
				notPico++
				errPico = maxRat(errPico, e)
			}
			// Ties go to the name that sorts first, so the output does not depend on map order.
			at := model + " " + key
			if c := cmp(v, min); min == nil || c < 0 || c == 0 && at < minAt {
				min, minAt = v, at
			}
			if c := cmp(v, max); max == nil || c > 0 || c == 0 && at < maxAt {
				max, maxAt = v, at
			}
		}
	}
	if min == nil {
		return errors.New("no non-zero price")
	}
	fmt.Fprintf(stdout, "tiered entries:     %d (%d with more than one input tier)\n", tiered, multiTiered)
	fmt.Fprintf(stdout, "prices:             %d (%d of them 0)\n", count, zero)
	fmt.Fprintf(stdout, "smallest non-zero:  %s USD/token (%s)\n", min.FloatString(15), minAt)
	fmt.Fprintf(stdout, "largest:            %s USD/token (%s)\n", max.FloatString(15), maxAt)
	ep, _ := errPico.Float64()
	ef, _ := errFemto.Float64()
	fmt.Fprintf(stdout, "not whole pico-USD per token:  %d, largest relative rounding error %.2g\n", notPico, ep)
	fmt.Fprintf(stdout, "not whole femto-USD per token: %d, largest relative rounding error %.2g\n", notFemto, ef)
	return nil
}

// roundingError is |round(v × unit) / unit − v| / v: what holding v as a whole number of units loses.
func roundingError(v, unit *big.Rat) *big.Rat {
	scaled := new(big.Rat).Mul(v, unit)
	q, m := new(big.Int).QuoRem(scaled.Num(), scaled.Denom(), new(big.Int))
	if m.Lsh(m, 1).Cmp(scaled.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	diff := new(big.Rat).Sub(new(big.Rat).Quo(new(big.Rat).SetInt(q), unit), v)
	return diff.Abs(diff).Quo(diff, v)
}

// cmp compares v with m, which may be nil.
func cmp(v, m *big.Rat) int {
	if m == nil {
		return 0
	}
	return v.Cmp(m)
}

func maxRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}
