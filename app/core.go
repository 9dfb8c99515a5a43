package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/localapi"
	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// Core is what runs in both modes: the store, the API and its listener. The desktop adds windows and a
// tray on top of it.
type Core struct {
	Config Config
	Store  *stats.Store
	API    *localapi.Server
	// URL is the listener's base address, e.g. http://127.0.0.1:8788, with the real port.
	URL string

	lock     io.Closer
	prices   *priceBook
	listener net.Listener
	server   *http.Server
	served   chan struct{} // closed when Serve returns; serveErr is then set
	serveErr error
	log      *slog.Logger
	// stopPoller stops the CLIProxyAPI poller (cliproxyapi.go); nil until it runs.
	stopPoller func()
	// stopBackups ends the daily backups; backups waits for them.
	stopBackups func()
	backups     sync.WaitGroup
}

// startCore locks the data folder, opens the store and starts serving.
func startCore(cfg Config, getenv func(string) string, log *slog.Logger) (*Core, error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Core{Config: cfg, lock: lock, log: log, served: make(chan struct{})}
	fail := func(err error) (*Core, error) {
		c.shutdown()
		return nil, err
	}
	token, err := loadToken(cfg.DataDir, getenv)
	if err != nil {
		return fail(err)
	}
	snap, why, err := loadSnapshot(cfg.DataDir)
	if err != nil {
		return fail(err)
	}
	if why != "" {
		log.Warn(why)
	}
	store, rec, err := openStore(cfg, log, pricing.Builder(snap))
	if err != nil {
		return fail(fmt.Errorf("open database: %w", err))
	}
	c.Store = store
	c.prices = &priceBook{dataDir: cfg.DataDir, store: store, log: log}
	if rec.CorruptFile != "" {
		log.Warn("the database file was corrupt; it was kept aside and a new one started",
			"kept", rec.CorruptFile, "cause", rec.Cause)
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	if !isLoopbackHost(host) {
		log.Warn("listening on a non-loopback address: other machines can reach the API (the token is still required)",
			"listen", cfg.Listen)
	}
	c.API = localapi.New(localapi.Config{Store: store, Token: token, Version: Version(),
		AllowedHosts: extraHosts(cfg.Listen), Logger: log, Upstreams: cfg.UpstreamTable(), LookupEmail: cfg.LookupEmail,
		ReloadPrices: c.prices.reload,
		// The browser tab speaks the language chosen in the settings ("" follows the browser).
		Language: func() string { s, _ := loadSettings(cfg.DataDir); return s.Language }})
	c.listener, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen on %s: %w", cfg.Listen, err))
	}
	c.URL = "http://" + c.listener.Addr().String()
	if err := writeURLFile(cfg.DataDir, c.URL); err != nil {
		return fail(err)
	}
	c.server = &http.Server{
		Handler:           c.API,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	c.server.RegisterOnShutdown(c.API.Shutdown) // ends the browser tabs' event streams
	go func() { c.serveErr = c.server.Serve(c.listener); close(c.served) }()
	c.stopPoller = startCLIProxyPoller(newCLIProxyPoller(store, cfg.DataDir, cliproxyTargetFunc(cfg, getenv), log))
	c.startBackups()
	return c, nil
}

// openStore opens the data folder's store as the app runs it; the export and import commands open it
// the same way when no instance holds the folder. The caller holds the data folder's lock. prices builds the store's pricer (nil: the store prices nothing and leaves stored costs alone).
func openStore(cfg Config, log *slog.Logger, prices stats.PriceBuilder) (*stats.Store, stats.Recovered, error) {
	loc, err := cfg.Location()
	if err != nil {
		return nil, stats.Recovered{}, err
	}
	return stats.Open(cfg.DBPath(), stats.Options{Location: loc, RetentionDays: cfg.RetentionDays, Logger: log,
		Prices: prices})
}

// startBackups starts the daily backups (docs/retention.md).
func (c *Core) startBackups() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stopBackups = cancel
	c.backups.Add(1)
	go backupLoop(ctx, &c.backups, c.Store, backupsDir(c.Config.DataDir), c.Config.Backups, c.log)
}

// Close stops accepting, lets in-flight requests (and so their writes) finish, then closes the store.
func (c *Core) Close() error {
	return c.shutdown()
}

func (c *Core) shutdown() error {
	var errs []error
	if c.stopPoller != nil {
		c.stopPoller() // before the store closes; a batch it has not stored stays on disk for the next start
		c.stopPoller = nil
	}
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := c.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop listener: %w", err))
		}
		cancel()
		<-c.served
		if err := c.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		c.server = nil
	} else if c.listener != nil {
		c.listener.Close()
	}
	if c.API != nil {
		c.API.Wait() // the pass-through's last records, before the store closes
	}
	if c.stopBackups != nil {
		c.stopBackups()
		c.backups.Wait()
	}
	if c.Store != nil {
		if err := c.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
		c.Store = nil
	}
	if c.lock != nil {
		if c.URL != "" {
			os.Remove(urlFile(c.Config.DataDir)) // before unlocking: the next holder writes its own
		}
		c.lock.Close()
		c.lock = nil
	}
	return errors.Join(errs...)
}

// Served reports the listener's end: nil after Close, an error if it failed on its own. Each call
// gets its own channel, so a caller waiting on it never takes the value Close waits for.
func (c *Core) Served() <-chan error {
	ch := make(chan error, 1)
	go func() {
		<-c.served
		if errors.Is(c.serveErr, http.ErrServerClosed) {
			ch <- nil
			return
		}
		ch <- c.serveErr
	}()
	return ch
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
