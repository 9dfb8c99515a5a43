package pricing

import (
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
