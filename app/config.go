// Package app wires Token Stats together: configuration, the data folder, the single-instance lock, the
// store and listener, and the headless or desktop lifecycle around them.
package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/localapi/passthrough"
)

// DefaultListen is where the listener binds unless told otherwise.
const DefaultListen = "127.0.0.1:8788"

// Config is what the command line and the environment decide.
type Config struct {
	Listen   string
	DataDir  string
	TZ       string
	Headless bool
	Command  string   // "" (run), "version", "token", "help", …
	Args     []string // what follows the command
	// Given names the flags set on the command line or through their environment variable; those win
	// over settings.json.
	Given map[string]bool
	// CLIProxyAPI is the base URL of a CLIProxyAPI whose usage queue Token Stats polls ("" = none, or
	// the one saved in Settings).
	CLIProxyAPI string
	// Upstreams are the pass-through's upstreams set by --upstream and TOKENSTATS_UPSTREAMS (flags over
	// the variable); they add to or re-point the built-in and saved ones, and win over settings.json.
	Upstreams []passthrough.Upstream
	// From settings.json (withSavedSettings): the saved upstreams and the Google account lookup.
	SavedUpstreams []passthrough.Upstream
	LookupEmail    bool

	// RetentionDays keeps raw records that many days (0: all); Backups is how many daily backups to
	// keep (0: none). See docs/retention.md.
	RetentionDays, Backups int
}

// UpstreamTable is the pass-through's table in effect: built in, then saved, then flags.
func (c Config) UpstreamTable() []passthrough.Upstream {
	return passthrough.Merge(passthrough.Builtins(), c.SavedUpstreams, c.Upstreams)
}

// Location is the configured time zone, or the process's local zone.
func (c Config) Location() (*time.Location, error) {
	if c.TZ == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.TZ)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", c.TZ, err)
	}
	return loc, nil
}

// DBPath is the SQLite file in the data folder.
func (c Config) DBPath() string { return filepath.Join(c.DataDir, "tokenstats.db") }

const usageText = `Usage: tokenstats [flags] [command]

Token Stats records the token usage that local LLM API proxies report to it and shows it in a
desktop window, a tray icon and a browser tab.

Commands:
  (none)    start the app (desktop window and tray; headless when no display is available)
  token     print the API token proxies must send
  record    send one usage record to the running app (tokenstats record --help)
  export    write usage records as CSV or JSONL (tokenstats export --help)
  import    add the records of an export or another tool's database (tokenstats import --help)
  backup    copy the database to a file, consistently, also while the app runs (backup FILE)
  restore   put a backup back while the app is not running (restore FILE)
  prices    update the price table costs are estimated with (tokenstats prices update --help)
  version   print the version
  help      print this help

Flags (each also read from the environment variable shown):
`

// parseConfig reads flags and environment. It returns flag.ErrHelp for --help, after printing usage.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("tokenstats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := func(env, fallback string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&c.Listen, "listen", def("TOKENSTATS_LISTEN", DefaultListen),
		"`address` of the local listener; port 0 picks a free port (TOKENSTATS_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", def("TOKENSTATS_DATA_DIR", ""),
		"`folder` for the database and token (TOKENSTATS_DATA_DIR; default: the per-user data folder)")
	fs.StringVar(&c.TZ, "tz", def("TOKENSTATS_TZ", ""),
		"IANA time `zone` of hourly and daily buckets (TOKENSTATS_TZ; default: the local zone, TZ)")
	headless, err := parseBoolEnv(getenv("TOKENSTATS_HEADLESS"))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return c, err
	}
	fs.BoolVar(&c.Headless, "headless", headless, "run only the listener and the store, no window (TOKENSTATS_HEADLESS)")
	fs.StringVar(&c.CLIProxyAPI, "cliproxyapi", def("TOKENSTATS_CLIPROXYAPI", ""),
		"`URL` of a CLIProxyAPI whose usage queue to poll, e.g. http://127.0.0.1:8317; its management key in TOKENSTATS_CLIPROXYAPI_KEY or Settings (TOKENSTATS_CLIPROXYAPI)")
	var flagUpstreams []passthrough.Upstream
	fs.Func("upstream", "`NAME=URL` of an upstream API for the pass-through /proxy/NAME/…, repeatable; adds one or re-points "+
		"a built-in one (TOKENSTATS_UPSTREAMS=\"NAME=URL,NAME=URL\")", func(v string) error {
		u, err := passthrough.ParseUpstream(v)
		if err == nil {
			flagUpstreams = append(flagUpstreams, u)
		}
		return err
	})
	if err := intFlags(fs, &c, getenv); err != nil {
		fmt.Fprintln(stderr, err)
		return c, err
	}
	showVersion := fs.Bool("version", false, "print the version and exit (same as the version command)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.Given[f.Name] = true })
	for name, env := range map[string]string{"listen": "TOKENSTATS_LISTEN", "data-dir": "TOKENSTATS_DATA_DIR", "tz": "TOKENSTATS_TZ",
		"cliproxyapi": "TOKENSTATS_CLIPROXYAPI", "retention-days": "TOKENSTATS_RETENTION_DAYS", "backups": "TOKENSTATS_BACKUPS"} {
		if getenv(env) != "" {
			c.Given[name] = true
		}
	}
	envUpstreams, err := passthrough.ParseList(getenv("TOKENSTATS_UPSTREAMS"))
	if err != nil {
		err = fmt.Errorf("TOKENSTATS_UPSTREAMS: %w", err)
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if c.Upstreams = passthrough.Merge(envUpstreams, flagUpstreams); len(c.Upstreams) > 0 {
		c.Given["upstream"] = true
	}
	if rest := fs.Args(); len(rest) > 0 {
		c.Command, c.Args = rest[0], rest[1:]
	}
	if *showVersion {
		c.Command = "version"
	}
	if c.DataDir == "" {
		if c.DataDir, err = defaultDataDir(getenv); err != nil {
			fmt.Fprintln(stderr, err)
			return c, err
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		err = fmt.Errorf("--listen %q: want host:port, e.g. %s", c.Listen, DefaultListen)
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if _, err := c.Location(); err != nil {
		fmt.Fprintln(stderr, err)
		return c, err
	}
	if c.CLIProxyAPI != "" {
		if err := checkCLIProxyAPIURL(c.CLIProxyAPI); err != nil {
			err = fmt.Errorf("--cliproxyapi: %w", err)
			fmt.Fprintln(stderr, err)
			return c, err
		}
	}
	return c, nil
}

func parseBoolEnv(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("TOKENSTATS_HEADLESS=%q: want 1 or 0", v)
}

// defaultDataDir is the per-user data folder of the OS.
func defaultDataDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "Token Stats"), nil
		}
	case "darwin":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "Token Stats"), nil
		}
	default:
		if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, "tokenstats"), nil
		}
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, ".local", "share", "tokenstats"), nil
		}
	}
	return "", errors.New("cannot find a per-user data folder (no HOME); set --data-dir or TOKENSTATS_DATA_DIR")
}

// hasDisplay tells whether a desktop window can be opened.
func hasDisplay(getenv func(string) string) bool {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
		return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
	}
	return true
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// extraHosts lists the Host names to accept when the user binds a non-loopback address.
func extraHosts(listen string) []string {
	host, _, _ := net.SplitHostPort(listen)
	if isLoopbackHost(host) {
		return nil
	}
	hosts := []string{}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return append(hosts, host)
	}
	// 0.0.0.0 or [::]: every address of this machine, and its name.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}
