package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// pricesFile is the price snapshot `tokenstats prices update` and the settings' update button store in
// the data folder, in the trimmed form (pricing.Snapshot.WriteTo). It replaces the embedded snapshot
// unless that one is newer (a program update brought later prices).
func pricesFile(dataDir string) string { return filepath.Join(dataDir, "prices.json") }

// loadSnapshot is the snapshot to price with: the data folder's file, or the embedded one when there is
// no file, it cannot be read, or it is older than the embedded one. why says which, for the log.
func loadSnapshot(dataDir string) (snap *pricing.Snapshot, why string, err error) {
	emb, err := pricing.Embedded()
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(pricesFile(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return emb, "", nil
	}
	if err != nil {
		return emb, fmt.Sprintf("%s not read (%v); using the built-in prices", pricesFile(dataDir), err), nil
	}
	defer f.Close()
	s, err := pricing.Parse(f)
	if err != nil {
		return emb, fmt.Sprintf("%s refused (%v); using the built-in prices", pricesFile(dataDir), err), nil
	}
	if d := s.Source().Date; !d.IsZero() && d.Before(emb.Source().Date) {
		return emb, fmt.Sprintf("the built-in prices (%s) are newer than %s (%s)", emb.Source().Date.Format(time.DateOnly),
			pricesFile(dataDir), d.Format(time.DateOnly)), nil
	}
	return s, "", nil
}

// priceBook keeps the price snapshot in use and replaces it: from a file, a download, or the data
// folder's file after `tokenstats prices update` wrote it. The store holds the overrides and builds its
// pricer from the snapshot given here (pricing.Builder).
type priceBook struct {
	mu      sync.Mutex
	dataDir string
	store   *stats.Store
	log     *slog.Logger
}

// update stores snap in the data folder and prices with it; the models whose prices changed are
// re-priced in the background.
func (b *priceBook) update(ctx context.Context, snap *pricing.Snapshot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := writeSnapshot(b.dataDir, snap); err != nil {
		return err
	}
	return b.store.SetPrices(ctx, pricing.Builder(snap))
}

// reload prices with the data folder's file again (POST /app/reload-prices).
func (b *priceBook) reload(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	snap, why, err := loadSnapshot(b.dataDir)
	if err != nil {
		return err
	}
	if why != "" {
		return errors.New(why)
	}
	b.log.Info("prices reloaded", "source", snap.Source().URL, "models", snap.Len())
	return b.store.SetPrices(ctx, pricing.Builder(snap))
}

// updatePrices is the settings' update: from a file the user picked, or a download.
func (c *Core) updatePrices(ctx context.Context, r io.Reader, name string) error {
	snap, err := fetchSnapshot(ctx, r, name)
	if err != nil {
		return err
	}
	return c.prices.update(ctx, snap)
}

// fetchSnapshot reads a new snapshot: from r when given (a file the user picked, named name), else by
// downloading LiteLLM's current file.
func fetchSnapshot(ctx context.Context, r io.Reader, name string) (*pricing.Snapshot, error) {
	if r == nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return pricing.Fetch(ctx, &http.Client{}, pricing.DefaultURL)
	}
	s, err := pricing.Parse(r)
	if err != nil {
		return nil, err
	}
	if s.Source() == (pricing.Source{}) {
		s = s.WithSource(pricing.Source{URL: name, Date: time.Now().UTC().Truncate(time.Second)})
	}
	return s, nil
}

// writeSnapshot stores a snapshot as the data folder's price file (0600, written whole or not at all).
func writeSnapshot(dataDir string, snap *pricing.Snapshot) error {
	var b bytes.Buffer
	if _, err := snap.WriteTo(&b); err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	return writeFileAtomic(pricesFile(dataDir), b.Bytes(), 0o600)
}

const pricesUsage = `Usage: tokenstats [--data-dir DIR] prices update [--file F | --url U]

Replace the price table Token Stats estimates costs with: LiteLLM's model_prices_and_context_window.json
(downloaded from its main branch by default, or from --url), or a file you have (--file, when offline),
in LiteLLM's format or the trimmed form Token Stats stores. The table is checked, stored in the data
folder as prices.json, and a running Token Stats takes it at once; the records of the models whose
price changed are re-priced in the background (docs/prices.md). Overrides set in the settings or with
PUT /stats/prices/{model} still win over it.

Flags:
`

// runPrices is the prices command.
func runPrices(cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "update" {
		fmt.Fprint(stderr, pricesUsage)
		return 2
	}
	fs := flag.NewFlagSet("tokenstats prices update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), pricesUsage)
		fs.PrintDefaults()
	}
	file := fs.String("file", "", "read the table from this `file` (LiteLLM's JSON, optionally gzip-compressed)")
	url := fs.String("url", "", "download the table from this `URL` (default: LiteLLM's file on GitHub)")
	if code, ok := parseCommand(fs, args[1:]); !ok {
		return code
	}
	if *file != "" && *url != "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "tokenstats prices update: give --file or --url, not both, and no other argument")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var snap *pricing.Snapshot
	var err error
	switch {
	case *file != "":
		var f *os.File
		if f, err = os.Open(*file); err == nil {
			snap, err = fetchSnapshot(ctx, f, filepath.Base(*file))
			f.Close()
		}
	case *url != "":
		snap, err = pricing.Fetch(ctx, &http.Client{}, *url)
	default:
		snap, err = fetchSnapshot(ctx, nil, "")
	}
	if err == nil {
		err = writeSnapshot(cfg.DataDir, snap)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats prices update:", err, "(the prices in use are unchanged)")
		return 1
	}
	src := snap.Source()
	fmt.Fprintf(stdout, "stored %d models from %s", snap.Len(), src.URL)
	if !src.Date.IsZero() {
		fmt.Fprintf(stdout, " (%s)", src.Date.Format(time.DateOnly))
	}
	fmt.Fprintf(stdout, " in %s\n", pricesFile(cfg.DataDir))
	switch err := askToReload(ctx, cfg.DataDir, getenv); {
	case err == nil:
		fmt.Fprintln(stdout, "the running Token Stats uses them now; changed models are re-priced in the background")
	case errors.Is(err, errNotRunning):
		fmt.Fprintln(stdout, "Token Stats uses them from its next start")
	default:
		fmt.Fprintln(stderr, "tokenstats prices update: telling the running Token Stats failed:", err)
		fmt.Fprintln(stderr, "it uses the new prices from its next start")
		return 1
	}
	return 0
}

// errNotRunning: no instance holds the data folder, so there is nobody to tell.
var errNotRunning = errors.New("Token Stats is not running")

// askToReload asks the instance that holds the data folder to read the price file again.
func askToReload(ctx context.Context, dataDir string, getenv func(string) string) error {
	if lock, err := lockDataDir(dataDir); err == nil { // nobody holds it
		lock.Close()
		return errNotRunning
	}
	base, err := readURLFile(dataDir)
	if err != nil {
		return err
	}
	token, err := readToken(dataDir, getenv)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/app/reload-prices", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
