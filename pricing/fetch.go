package pricing

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// DefaultURL is LiteLLM's price file on its main branch.
const DefaultURL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"

// Fetch downloads a price file with client and parses it (see Parse). A full LiteLLM file gets the URL
// and the time of the download as its source; a trimmed file keeps the source it names.
func Fetch(ctx context.Context, client *http.Client, url string) (*Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching prices: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching prices: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching prices from %s: the server answered %s", url, resp.Status)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("prices from %s: %w", url, err)
	}
	if s.source == (Source{}) {
		s = s.WithSource(Source{URL: url, Date: time.Now().UTC().Truncate(time.Second)})
	}
	return s, nil
}
