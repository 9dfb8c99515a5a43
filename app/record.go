package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstats/tokenstats/localapi/client"
)

const recordUsage = `Usage: tokenstats [--data-dir DIR] [--listen ADDR] record [flags]

Send one usage record to the running Token Stats, as a proxy would. Give the token counts, or
provider-native usage with --usage-json (a usage object or a whole response body; the server normalises
it: see docs/usage-normalization.md); explicit non-zero counts win over it.

  tokenstats record --account me@example.com --model gpt-4o --input 1200 --output 300 --cached 1024
  curl -s … | tokenstats record --account me@example.com --model gemini-2.5-pro --usage-json -

The token comes from TOKENSTATS_TOKEN or the data folder's token file. Exit status: 0 stored (or a
duplicate), 1 the server refused the record or could not be reached, 2 bad flags.

Flags:
`

// runRecord is the record command.
func runRecord(cfg Config, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenstats record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), recordUsage)
		fs.PrintDefaults()
	}
	var rec client.Record
	var input, output, cached, reasoning, cacheCreation, timestamp, usageFile, url string
	var timeout time.Duration
	fs.StringVar(&rec.AccountEmail, "account", "", "account `email` (required)")
	fs.StringVar(&rec.Model, "model", "", "model `name` (required)")
	fs.StringVar(&input, "input", "", "input tokens, cached included (required without --usage-json)")
	fs.StringVar(&output, "output", "", "output tokens, reasoning included (required without --usage-json)")
	fs.StringVar(&cached, "cached", "", "cached input tokens")
	fs.StringVar(&reasoning, "reasoning", "", "reasoning output tokens")
	fs.StringVar(&cacheCreation, "cache-creation", "", "cache creation tokens")
	fs.StringVar(&usageFile, "usage-json", "", "`file` (- for stdin) holding provider-native usage or a response body")
	fs.StringVar(&rec.Provider, "provider", "", "provider of --usage-json: openai, openai-responses, anthropic, gemini (default: recognised)")
	fs.StringVar(&rec.RequestID, "request-id", "", "request `id`; sending the same id again is not counted twice")
	fs.StringVar(&timestamp, "timestamp", "", "when the request happened: unix seconds or RFC 3339 (default: now)")
	fs.StringVar(&rec.Source, "source", "cli", "which proxy sent the record")
	fs.StringVar(&rec.Credential, "credential-file", "", "credential file the proxy used")
	fs.StringVar(&url, "url", "", "Token Stats `URL` (TOKENSTATS_URL; default: http:// and the --listen address)")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	if code, ok := parseCommand(fs, args); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int { return usageError(stderr, "record", format, a...) }
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if rec.AccountEmail == "" || rec.Model == "" {
		return usageErr("--account and --model are required")
	}
	counts := []struct {
		flag string
		val  string
		dst  *int64
	}{
		{"input", input, &rec.InputTokens}, {"output", output, &rec.OutputTokens}, {"cached", cached, &rec.CachedTokens},
		{"reasoning", reasoning, &rec.ReasoningTokens}, {"cache-creation", cacheCreation, &rec.CacheCreationTokens},
	}
	for _, c := range counts {
		if c.val == "" {
			continue
		}
		n, err := strconv.ParseInt(c.val, 10, 64)
		if err != nil || n < 0 {
			return usageErr("--%s %q: want a whole number ≥ 0", c.flag, c.val)
		}
		*c.dst = n
	}
	if usageFile == "" {
		if input == "" || output == "" {
			return usageErr("give --input and --output, or --usage-json")
		}
		if rec.Provider != "" {
			return usageErr("--provider only applies with --usage-json")
		}
	} else {
		raw, err := readUsageJSON(usageFile, stdin)
		if err != nil {
			return usageErr("%v", err)
		}
		rec.Response = raw
	}
	if timestamp != "" {
		ts, err := parseTimestampFlag(timestamp)
		if err != nil {
			return usageErr("--timestamp %q: %v", timestamp, err)
		}
		rec.Timestamp = ts
	}
	if url == "" {
		url = getenv("TOKENSTATS_URL")
	}
	if url == "" {
		url = listenURL(cfg.Listen)
	}
	token, err := readToken(cfg.DataDir, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats record:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := client.New(url, token).Record(ctx, rec)
	if err != nil {
		fmt.Fprintln(stderr, "tokenstats record:", strings.TrimPrefix(err.Error(), "tokenstats: "))
		return 1
	}
	if res.Duplicates > 0 {
		fmt.Fprintln(stdout, "duplicate: a record with this request id was stored before; not counted again")
	} else {
		fmt.Fprintln(stdout, "accepted")
	}
	return 0
}

func readUsageJSON(name string, stdin io.Reader) (json.RawMessage, error) {
	var raw []byte
	var err error
	if name == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, 8<<20))
	} else {
		raw, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("--usage-json: %w", err)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("--usage-json %s: not valid JSON", name)
	}
	return json.RawMessage(strings.TrimSpace(string(raw))), nil
}

func parseTimestampFlag(v string) (int64, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, errors.New("want unix seconds or RFC 3339, e.g. 2026-01-22T16:04:05Z")
	}
	return t.Unix(), nil
}

// listenURL turns a --listen address into a URL to reach it: a wildcard host means this machine.
func listenURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// readToken is TOKENSTATS_TOKEN or the data folder's token file. Unlike loadToken it never creates one:
// a token made here would not be the one the running app checks.
func readToken(dataDir string, getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("TOKENSTATS_TOKEN")); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(tokenFile(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no token: %s does not exist; start Token Stats once, or set TOKENSTATS_TOKEN", tokenFile(dataDir))
	}
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", tokenFile(dataDir))
	}
	return t, nil
}
