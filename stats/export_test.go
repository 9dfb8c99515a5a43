package stats

import "context"

// compactNow runs the writer's minute compaction at the store clock, as it runs on its own once a minute.
func (s *Store) compactNow(ctx context.Context) error {
	return s.w.submit(ctx, &writeReq{op: func(ctx context.Context, w *writer) (bool, error) {
		if err := w.compact(ctx, s.now().Unix()); err != nil {
			return false, err
		}
		for {
			behind, err := w.sealStep(ctx, s.now().Unix())
			if err != nil || !behind {
				return false, err
			}
		}
	}})
}

// testPricer prices every model but model-4, which stays unpriced: enough to check that money adds up
// the way tokens do, and that unpriced requests are counted, never priced at $0.
type testPricer struct{}

func (testPricer) Price(r *Record) (Money, bool) {
	if r.Model == "model-4" {
		return 0, false
	}
	return Money(3*(r.InputTokens-r.CachedTokens) + r.CachedTokens + 7*r.OutputTokens + 11*r.CacheCreationTokens), true
}

// StripStep runs one sealing and stripping step at the store clock, as the writer does every sealAgain
// while either is behind; it reports whether more is left.
func (s *Store) StripStep(ctx context.Context) (behind bool, err error) { return s.sealOnce(ctx) }
