package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/localapi"
	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/ui"
)

// alerter announces limits crossing their thresholds: once per limit, threshold and period, across
// restarts (the store remembers what was announced: MarkAlerts), by a desktop notification when there
// is a desktop and by the limit's webhook when it has one. It only looks at each limit's current period,
// so records filled in later for a period that is over (an import, a replayed spool) announce nothing;
// the next period announces anew. docs/limits.md describes it.
type alerter struct {
	store  *stats.Store
	notify func(title, body string) // nil without a desktop: the log says it
	client *http.Client
	log    *slog.Logger
	posts  sync.WaitGroup // webhooks under way
}

// webhookTimeout bounds one webhook POST; a slow receiver never holds anything else up.
const webhookTimeout = 10 * time.Second

func newAlerter(st *stats.Store, notify func(title, body string), log *slog.Logger) *alerter {
	return &alerter{store: st, notify: notify, client: &http.Client{Timeout: webhookTimeout}, log: log}
}

// check announces what the limits in t crossed and was not announced before. When several thresholds
// are crossed at once (a large import), one announcement names the highest and all are recorded.
func (a *alerter) check(ctx context.Context, t liveTotals) {
	for _, st := range t.Limits {
		crossed := st.Crossed()
		if len(crossed) == 0 {
			continue
		}
		fresh, err := a.store.MarkAlerts(ctx, st.ID, st.Start, crossed)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("limit alerts", "err", err)
			}
			continue
		}
		if len(fresh) == 0 {
			continue
		}
		th := fresh[len(fresh)-1]
		title, body := ui.LimitNotification(st, th, t.At)
		a.log.Info("limit alert", "limit", st.ID, "threshold", th, "text", body)
		if a.notify != nil {
			a.notify(title, body)
		}
		if st.Webhook != "" {
			a.post(st, th)
		}
	}
}

// post sends the limit's webhook in the background: the limit's JSON as GET /stats/limits shows it, with
// the threshold crossed. A failure is logged with the receiver's host only, as a webhook URL often
// carries a secret.
func (a *alerter) post(st stats.LimitStatus, threshold int) {
	body, err := localapi.LimitAlertJSON(st, threshold)
	host := "?"
	if u, perr := url.Parse(st.Webhook); perr == nil {
		host = u.Host
	}
	if err != nil {
		a.log.Warn("limit webhook", "host", host, "err", err)
		return
	}
	a.posts.Add(1)
	go func() {
		defer a.posts.Done()
		req, err := http.NewRequest(http.MethodPost, st.Webhook, bytes.NewReader(body))
		if err != nil {
			a.log.Warn("limit webhook", "host", host, "err", "not a valid URL")
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "tokenstats/"+Version())
		resp, err := a.client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL
			}
			a.log.Warn("limit webhook", "host", host, "err", err)
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			a.log.Warn("limit webhook", "host", host, "status", resp.Status)
		}
	}()
}

// wait lets the webhooks under way finish (each is bounded by webhookTimeout).
func (a *alerter) wait() { a.posts.Wait() }
