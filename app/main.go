package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	// Before Fyne's lang package reads the locale: see the package comment.
	_ "github.com/tokenstats/tokenstats/app/internal/localeenv"
)

// version is set at build time with -ldflags "-X github.com/tokenstats/tokenstats/app.version=…".
var version = "0.1.0"

// Version is the program version, with the VCS revision when the build recorded one.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return version + "+" + s.Value[:7]
			}
		}
	}
	return version
}

// Main runs the program with args (without the program name) and returns the exit code.
func Main(args []string) int {
	return run(args, os.Getenv, os.Stdout, os.Stderr)
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	switch cfg.Command {
	case "":
		return runApp(cfg, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "tokenstats", Version())
		return 0
	case "help":
		fmt.Fprint(stdout, usageText)
		fmt.Fprintln(stdout, "  run 'tokenstats --help' for the flags")
		return 0
	case "record":
		return runRecord(cfg, cfg.Args, getenv, os.Stdin, stdout, stderr)
	case "export":
		return runExport(cfg, cfg.Args, getenv, stdout, stderr)
	case "import":
		return runImport(cfg, cfg.Args, getenv, stdout, stderr)
	case "backup":
		return runBackup(cfg, cfg.Args, stdout, stderr)
	case "restore":
		return runRestore(cfg, cfg.Args, stdout, stderr)
	case "prices":
		return runPrices(cfg, cfg.Args, getenv, stdout, stderr)
	case "token":
		t, err := loadToken(cfg.DataDir, getenv)
		if err != nil {
			fmt.Fprintln(stderr, "tokenstats:", err)
			return 1
		}
		fmt.Fprintln(stdout, t)
		return 0
	}
	fmt.Fprintf(stderr, "tokenstats: unknown command %q (try 'tokenstats help')\n", cfg.Command)
	return 2
}

func runApp(cfg Config, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg = withSavedSettings(cfg, stderr)
	if !cfg.Headless && !hasDisplay(getenv) {
		fmt.Fprintln(stderr, "tokenstats: no display available (DISPLAY and WAYLAND_DISPLAY are unset); running headless")
		cfg.Headless = true
	}
	if !cfg.Headless {
		return runDesktop(cfg, getenv, stdout, stderr)
	}
	return runHeadless(cfg, getenv, stdout, stderr)
}

// runHeadless serves until SIGINT or SIGTERM.
func runHeadless(cfg Config, getenv func(string) string, stdout, stderr io.Writer) int {
	// Catch signals before announcing the URL, so a caller that reacts to the URL can always stop us cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(stderr)
	core, err := startCore(cfg, getenv, log)
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats:", err)
		return 1
	}
	announce(stdout, core)
	// Limits alert by their webhooks (and in the log) headless too.
	alerts := newAlerter(core.Store, nil, log)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchLiveTotals(ctx, core.Store, time.Now, func(t liveTotals) { alerts.check(ctx, t) },
			func(err error) { log.Warn("limits", "err", err) })
	}()
	code := 0
	select {
	case <-ctx.Done():
	case err := <-core.Served():
		fmt.Fprintln(stderr, "tokenstats: listener stopped:", err)
		code = 1
	}
	stop()
	<-watched
	alerts.wait()
	if err := core.Close(); err != nil {
		fmt.Fprintln(stderr, "tokenstats:", err)
		code = 1
	}
	return code
}

// announce prints the address, in both modes, for the user and for scripts that start the app.
func announce(stdout io.Writer, core *Core) {
	fmt.Fprintf(stdout, "Token Stats %s listening on %s (data: %s)\n", Version(), core.URL, core.Config.DataDir)
}

// parseCommand parses a command's flags. When ok is false the command ends with code: 0 after --help,
// 2 after a bad flag, which the flag set has already explained.
func parseCommand(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// usageError says what is wrong with a command's arguments and where its flags are described, and gives
// the exit code for it.
func usageError(stderr io.Writer, command, format string, a ...any) int {
	fmt.Fprintf(stderr, "tokenstats %s: %s\n", command, fmt.Sprintf(format, a...))
	fmt.Fprintf(stderr, "run 'tokenstats %s --help' for the flags\n", command)
	return 2
}
