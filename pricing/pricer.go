package pricing

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/tokenstats/tokenstats/stats"
)

// Pricer prices records for the store at a Table's prices: it is the stats.Pricer the store calls for
// every record it stores or re-prices, and a stats.PriceKeyer, so the store re-prices only the models
// whose rates differ from the ones that priced them. It remembers each model's lookup, as the store
// asks for the same few models millions of times.
type Pricer struct {
	table *Table
	seen  sync.Map // model name → *lookup
}

type lookup struct {
	rates Rates
	ok    bool
	key   string
}

// NewPricer makes the store's pricer for a table.
func NewPricer(t *Table) *Pricer { return &Pricer{table: t} }

// Table is the table the pricer prices with.
func (p *Pricer) Table() *Table { return p.table }

func (p *Pricer) lookup(model string) *lookup {
	if l, ok := p.seen.Load(model); ok {
		return l.(*lookup)
	}
	l := &lookup{}
	l.rates, _, l.ok = p.table.Lookup(model)
	if l.ok {
		l.key = rateKey(l.rates)
	}
	p.seen.Store(model, l)
	return l
}

// Price is what a record cost at the table's prices (stats.Pricer). A model the table does not price,
// or a record it cannot (a cost above MaxCost), is unpriced: counted as such, never as $0.
func (p *Pricer) Price(r *stats.Record) (stats.Money, bool) {
	l := p.lookup(r.Model)
	if !l.ok {
		return 0, false
	}
	c, err := l.rates.Cost(TokensOf(*r))
	return c, err == nil
}

// PriceKey fingerprints the rates the table applies to a model, "" when it has none (stats.PriceKeyer):
// two tables that price a model alike give it the same key, whichever entry or override the rates
// came from.
func (p *Pricer) PriceKey(model string) string { return p.lookup(model).key }

// rateKey is a 64-bit FNV-1a hash of every rate, in base 36.
func rateKey(r Rates) string {
	h := fnv.New64a()
	fmt.Fprint(h, r.Base)
	for _, t := range r.Tiers {
		fmt.Fprint(h, "|", t)
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// Builder is the store's PriceBuilder for a snapshot: the snapshot with the overrides the store holds.
func Builder(s *Snapshot) stats.PriceBuilder {
	return func(ovs []stats.PriceOverride) (stats.Pricer, error) {
		t, err := tableOf(s, ovs)
		if err != nil {
			return nil, err
		}
		return NewPricer(t), nil
	}
}

// tableOf makes a table from a snapshot and overrides as the store keeps them. Money per million
// tokens and Rate are the same number (nano-dollars per million tokens are femto-dollars per token),
// so nothing is converted.
func tableOf(s *Snapshot, ovs []stats.PriceOverride) (*Table, error) {
	if s == nil {
		return nil, errors.New("pricing: no snapshot")
	}
	t := &Table{snap: s, overrides: make(map[string]Rates, len(ovs))}
	for _, o := range ovs {
		in, out := Rate(o.Input), Rate(o.Output)
		p := Prices{Input: in, Output: out, CacheRead: in, CacheWrite: in, Reasoning: out}
		if o.CacheRead != nil {
			p.CacheRead = Rate(*o.CacheRead)
		}
		if o.CacheWrite != nil {
			p.CacheWrite = Rate(*o.CacheWrite)
		}
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("price override for %q: %w", o.Model, err)
		}
		t.overrides[o.Model] = Rates{Base: p}
	}
	return t, nil
}

// Stored checks the override and converts it for the store, exactly: Money per million tokens.
func (o Override) Stored(model string) (stats.PriceOverride, error) {
	r, err := o.Rates()
	if err != nil {
		return stats.PriceOverride{}, err
	}
	p := stats.PriceOverride{Model: model, Input: r.Base.Input.PerMTok(), Output: r.Base.Output.PerMTok()}
	if o.CacheReadPerMTok != nil {
		m := r.Base.CacheRead.PerMTok()
		p.CacheRead = &m
	}
	if o.CacheWritePerMTok != nil {
		m := r.Base.CacheWrite.PerMTok()
		p.CacheWrite = &m
	}
	return p, nil
}
