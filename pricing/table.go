package pricing

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/tokenstats/tokenstats/stats"
)

// Override is a user's price for one model, in US dollars per million tokens, as the API takes it.
// A nil cache price means the input price, as for a snapshot entry without one; reasoning tokens are
// priced as output. An override has no tiers.
type Override struct {
	InputPerMTok      float64  `json:"input_per_mtok"`
	OutputPerMTok     float64  `json:"output_per_mtok"`
	CacheReadPerMTok  *float64 `json:"cache_read_per_mtok,omitempty"`
	CacheWritePerMTok *float64 `json:"cache_write_per_mtok,omitempty"`
}

// MaxUSDPerMTok is the highest price an override may set, the same bound as MaxRate.
const MaxUSDPerMTok = 1_000_000

// Rates converts the override to integer rates. Each price must be a finite number from 0 to
// MaxUSDPerMTok; a positive price below 10⁻⁹ USD per million tokens cannot be held and is refused.
func (o Override) Rates() (Rates, error) {
	in, err := rateFromUSDPerMTok("input_per_mtok", o.InputPerMTok)
	if err != nil {
		return Rates{}, err
	}
	out, err := rateFromUSDPerMTok("output_per_mtok", o.OutputPerMTok)
	if err != nil {
		return Rates{}, err
	}
	p := Prices{Input: in, Output: out, CacheRead: in, CacheWrite: in, Reasoning: out}
	if o.CacheReadPerMTok != nil {
		if p.CacheRead, err = rateFromUSDPerMTok("cache_read_per_mtok", *o.CacheReadPerMTok); err != nil {
			return Rates{}, err
		}
	}
	if o.CacheWritePerMTok != nil {
		if p.CacheWrite, err = rateFromUSDPerMTok("cache_write_per_mtok", *o.CacheWritePerMTok); err != nil {
			return Rates{}, err
		}
	}
	return Rates{Base: p}, nil
}

func rateFromUSDPerMTok(field string, usd float64) (Rate, error) {
	switch {
	case math.IsNaN(usd) || math.IsInf(usd, 0):
		return 0, fmt.Errorf("%s must be a finite number", field)
	case usd < 0:
		return 0, fmt.Errorf("%s must not be negative", field)
	case usd > MaxUSDPerMTok:
		return 0, fmt.Errorf("%s must be at most %d USD per million tokens", field, MaxUSDPerMTok)
	}
	// The shortest decimal that reads back as usd is what the user typed ("0.075"), and converting it
	// exactly avoids a float product's last-digit error.
	r, err := rateFromDecimal(strconv.FormatFloat(usd, 'g', -1, 64), 9)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return r, nil
}

// Table is a snapshot plus overrides: what prices records. It is immutable and safe for concurrent use.
type Table struct {
	snap      *Snapshot
	overrides map[string]Rates
}

// NewTable makes a table from a snapshot and per-model overrides, keyed by the exact model name an
// override applies to. An invalid override is an error that names it.
func NewTable(s *Snapshot, overrides map[string]Override) (*Table, error) {
	if s == nil {
		return nil, errors.New("pricing: NewTable needs a snapshot")
	}
	t := &Table{snap: s, overrides: make(map[string]Rates, len(overrides))}
	for model, o := range overrides {
		if model == "" || len(model) > stats.MaxModelLen {
			return nil, fmt.Errorf("price override: the model name must be 1 to %d bytes long", stats.MaxModelLen)
		}
		r, err := o.Rates()
		if err != nil {
			return nil, fmt.Errorf("price override for %q: %w", model, err)
		}
		t.overrides[model] = r
	}
	return t, nil
}

// Source is where the table's snapshot came from.
func (t *Table) Source() Source { return t.snap.source }

// Lookup finds the rates for a model name: an override for exactly that name, or the snapshot entry
// it matches (see Match). ok is false when nothing matches: the model is unpriced, not free.
func (t *Table) Lookup(model string) (Rates, Match, bool) {
	if r, ok := t.overrides[model]; ok {
		return r, Match{Entry: model, Origin: OriginOverride, How: HowExact}, true
	}
	e, m, ok := t.snap.match(model)
	if !ok {
		return Rates{}, Match{}, false
	}
	return e.rates, m, true
}

// Cost prices one record's tokens for a model. ok is false, with no error, when the model is
// unpriced; an error means the token counts are impossible (see Rates.Cost).
func (t *Table) Cost(model string, tok Tokens) (stats.Money, Match, bool, error) {
	r, m, ok := t.Lookup(model)
	if !ok {
		return 0, Match{}, false, nil
	}
	c, err := r.Cost(tok)
	if err != nil {
		return 0, m, true, fmt.Errorf("pricing %q: %w", model, err)
	}
	return c, m, true, nil
}

// Changed returns those of models that t and b price differently (one prices it and the other does
// not, or their rates differ), in the order given, so a store re-prices only their records.
func (t *Table) Changed(b *Table, models []string) []string {
	var changed []string
	for _, m := range models {
		ra, _, oka := t.Lookup(m)
		rb, _, okb := b.Lookup(m)
		if oka != okb || !ra.Equal(rb) {
			changed = append(changed, m)
		}
	}
	return changed
}
