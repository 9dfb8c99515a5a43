package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenstats/tokenstats/assets/translations"
	"github.com/tokenstats/tokenstats/localapi/passthrough"
	"github.com/tokenstats/tokenstats/ui"
)

// savedSettings is settings.json in the data folder: what the settings window changes. Flags and
// environment variables win over it; it wins over the defaults. Empty fields mean "the default".
type savedSettings struct {
	Listen   string `json:"listen,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
	Language string `json:"language,omitempty"` // "", "en", "zh-Hans"
	// CLIProxyAPI is the address of a CLIProxyAPI whose usage queue to poll; its management key is kept
	// in a file of its own (cliproxyapi.go).
	CLIProxyAPI string `json:"cliproxyapi_url,omitempty"`
	// The pass-through: upstreams added or re-pointed in the settings window, and the Google account
	// lookup of Code Assist tokens (off unless set).
	Upstreams         []passthrough.Upstream `json:"upstreams,omitempty"`
	LookupGoogleEmail bool                   `json:"lookup_google_email,omitempty"`
	// RetentionDays and Backups: nil means the default (keep every record; DefaultBackups).
	RetentionDays *int `json:"retention_days,omitempty"`
	Backups       *int `json:"backups,omitempty"`
}

func settingsFile(dataDir string) string { return filepath.Join(dataDir, "settings.json") }

func loadSettings(dataDir string) (savedSettings, error) {
	var s savedSettings
	b, err := os.ReadFile(settingsFile(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return savedSettings{}, fmt.Errorf("read settings %s: %w", settingsFile(dataDir), err)
	}
	return s, nil
}

// saveSettings writes settings.json (0600) through a temporary file, so a crash never leaves half of it.
func saveSettings(dataDir string, s savedSettings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	return writeFileAtomic(settingsFile(dataDir), append(b, '\n'), 0o600)
}

// withSavedSettings applies settings.json to what flags and environment left at their defaults. A bad
// file or value is reported and skipped: a typo in the settings must not keep the app from starting.
func withSavedSettings(cfg Config, stderr io.Writer) Config {
	s, err := loadSettings(cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats: ignoring saved settings:", err)
		return cfg
	}
	if s.Listen != "" && !cfg.Given["listen"] {
		if err := checkListen(s.Listen); err != nil {
			fmt.Fprintln(stderr, "tokenstats: ignoring saved listen address:", err)
		} else {
			cfg.Listen = s.Listen
		}
	}
	cfg.SavedUpstreams, cfg.LookupEmail = validUpstreams(s.Upstreams, stderr), s.LookupGoogleEmail
	if s.TimeZone != "" && !cfg.Given["tz"] {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			fmt.Fprintf(stderr, "tokenstats: ignoring saved time zone %q: %v\n", s.TimeZone, err)
		} else {
			cfg.TZ = s.TimeZone
		}
	}
	return withSavedCounts(cfg, s, stderr)
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port, e.g. %s", addr, DefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen address %q: port must be 0–65535", addr)
	}
	if host != "" && net.ParseIP(strings.Trim(host, "[]")) == nil && !strings.EqualFold(host, "localhost") {
		return fmt.Errorf("listen address %q: host must be an IP address or localhost", addr)
	}
	return nil
}

// settingsBackend implements the settings window's actions (ui.Settings).
type settingsBackend struct {
	mu        sync.Mutex
	cfg       Config
	getenv    func(string) string
	setToken  func(string) // the running listener's token
	autostart autostart
	// The running pass-through, changed at once by the settings window (nil: saved only).
	setUpstreams func([]passthrough.Upstream) error
	setLookup    func(bool)
	// updatePrices replaces the price snapshot (prices.go); nil hides the prices in the settings.
	updatePrices ui.PriceUpdate
}

func newSettingsBackend(cfg Config, getenv func(string) string, setToken func(string)) *settingsBackend {
	return &settingsBackend{cfg: cfg, getenv: getenv, setToken: setToken, autostart: newAutostart(cfg, getenv)}
}

// update reads settings.json, changes it and writes it back, under the lock.
func (b *settingsBackend) update(change func(*savedSettings)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := loadSettings(b.cfg.DataDir)
	if err != nil {
		return err
	}
	change(&s)
	return saveSettings(b.cfg.DataDir, s)
}

func (b *settingsBackend) saved() savedSettings {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, _ := loadSettings(b.cfg.DataDir)
	return s
}

// ListenAddr is the address the next start will use: the saved one, else the one in effect.
func (b *settingsBackend) ListenAddr() string {
	if s := b.saved(); s.Listen != "" {
		return s.Listen
	}
	return b.cfg.Listen
}

// SetListenAddr saves the address for the next start; "" returns to the default.
func (b *settingsBackend) SetListenAddr(addr string) error {
	addr = strings.TrimSpace(addr)
	if addr != "" {
		if err := checkListen(addr); err != nil {
			return err
		}
	}
	if b.cfg.Given["listen"] {
		return fmt.Errorf("the listen address is set by --listen or TOKENSTATS_LISTEN, which win over the saved setting")
	}
	return b.update(func(s *savedSettings) { s.Listen = addr })
}

// RegenerateToken writes a new token and puts it in effect at once: proxies using the old one get 401.
func (b *settingsBackend) RegenerateToken() (string, error) {
	if strings.TrimSpace(b.getenv("TOKENSTATS_TOKEN")) != "" {
		return "", errors.New("the token is set by TOKENSTATS_TOKEN; change it there")
	}
	t, err := RegenerateToken(b.cfg.DataDir)
	if err != nil {
		return "", err
	}
	b.setToken(t)
	return t, nil
}

// OpenDataFolder opens the data folder in the system's file manager.
func (b *settingsBackend) OpenDataFolder() error {
	return openInSystem(b.cfg.DataDir)
}

// TimeZone is the zone the next start will use ("" = the system's).
func (b *settingsBackend) TimeZone() string {
	if s := b.saved(); s.TimeZone != "" {
		return s.TimeZone
	}
	return b.cfg.TZ
}

// SetTimeZone saves an IANA zone name for the next start; "" returns to the system zone.
func (b *settingsBackend) SetTimeZone(name string) error {
	name = strings.TrimSpace(name)
	if name != "" {
		if _, err := time.LoadLocation(name); err != nil {
			return fmt.Errorf("time zone %q: %w", name, err)
		}
	}
	if b.cfg.Given["tz"] {
		return fmt.Errorf("the time zone is set by --tz or TOKENSTATS_TZ, which win over the saved setting")
	}
	return b.update(func(s *savedSettings) { s.TimeZone = name })
}

// Language is the saved language tag ("" = follow the system).
func (b *settingsBackend) Language() string { return b.saved().Language }

// SetLanguage saves the language for the next start.
func (b *settingsBackend) SetLanguage(tag string) error {
	tags := []string{""} // "" follows the system
	for _, l := range translations.Languages() {
		tags = append(tags, l.Tag)
	}
	if !slices.Contains(tags, tag) {
		return fmt.Errorf("language %q: want one of %q", tag, tags)
	}
	return b.update(func(s *savedSettings) { s.Language = tag })
}

// StartAtLogin tells whether the app starts when the user logs in.
func (b *settingsBackend) StartAtLogin() (bool, error) { return b.autostart.enabled() }

// SetStartAtLogin turns starting at login on or off.
func (b *settingsBackend) SetStartAtLogin(on bool) error { return b.autostart.set(on) }

// openInSystem opens a folder or URL with the desktop's default handler.
func openInSystem(target string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		cmd = exec.Command("explorer", target)
	case "darwin":
		cmd = exec.Command("open", target)
	default:
		cmd = exec.Command("xdg-open", target)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open %s: %w", target, err)
	}
	go cmd.Wait() // reap it; explorer exits 1 even on success, so its status says nothing
	return nil
}

// forUI hands the actions to the settings window.
func (b *settingsBackend) forUI() ui.Settings {
	return ui.Settings{
		ListenAddr: b.ListenAddr, SetListenAddr: b.SetListenAddr,
		RegenerateToken: b.RegenerateToken,
		OpenDataFolder:  b.OpenDataFolder,
		TimeZone:        b.TimeZone, SetTimeZone: b.SetTimeZone,
		StartAtLogin: b.StartAtLogin, SetStartAtLogin: b.SetStartAtLogin,
		Language: b.Language, SetLanguage: b.SetLanguage,
		CLIProxyAPI: b.CLIProxyAPI, SetCLIProxyAPI: b.SetCLIProxyAPI,
		Upstreams: b.Upstreams, SetUpstream: b.SetUpstream, RemoveUpstream: b.RemoveUpstream,
		LookupEmail: b.LookupEmail, SetLookupEmail: b.SetLookupEmail,
		RetentionDays: b.RetentionDays, SetRetentionDays: b.SetRetentionDays,
		Backups: b.Backups, SetBackups: b.SetBackups,
		UpdatePrices: b.updatePrices,
	}
}
