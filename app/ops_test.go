package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

// Under LANG=C.UTF-8 (Debian containers, CI) every command prints what it should and nothing else:
// `tokenstats token` exactly the token, no "Fyne error" lines, and a headless start no such lines either.
func TestCLocaleIsQuiet(t *testing.T) {
	bin := buildBinary(t)
	home := t.TempDir()
	data := filepath.Join(home, "data")
	for _, loc := range [][]string{{"LANG=C.UTF-8"}, {"LC_ALL=C.UTF-8"}, {"LANG=C.utf8", "LC_MESSAGES=POSIX.UTF-8"}} {
		for _, args := range [][]string{{"token"}, {"version"}, {"help"}} {
			cmd := exec.Command(bin, append([]string{"--data-dir", data}, args...)...)
			cmd.Env = append(baseEnv(home), loc...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v %v: %v\n%s", loc, args, err, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("%v tokenstats %s printed on stderr:\n%s", loc, args[0], stderr.String())
			}
			if args[0] == "token" {
				tok, err := os.ReadFile(filepath.Join(data, "token"))
				if err != nil || stdout.String() != string(tok) || len(strings.TrimSpace(stdout.String())) != 64 {
					t.Errorf("%v tokenstats token printed %q; the token file holds %q (%v)", loc, stdout.String(), tok, err)
				}
			}
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	p := startBinary(t, bin, append(baseEnv(home), "LANG=C.UTF-8"), "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	if msg := p.stderrText(); strings.Contains(msg, "Fyne") || strings.Contains(msg, "locale") {
		t.Errorf("a headless start under LANG=C.UTF-8 printed:\n%s", msg)
	}
}

// tokenstats backup copies the database while the app runs and records keep arriving: every record
// acknowledged before the command started is in the copy, and the copy holds a prefix of what one
// sender wrote in order. restore refuses while the app runs; with the app stopped it puts the copy in
// place (keeping the replaced file), and the restarted app's views equal the sums over that prefix.
func TestBackupAndRestoreUnderLiveIngest(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGTERM")
	}
	bin, data, env, token := headlessSetup(t)
	p := startBinary(t, bin, env, "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
	base := time.Now().Add(-48 * time.Hour).Unix()
	type sent struct{ in, out int64 }
	var mu sync.Mutex
	var acked []sent
	post := func(i int) bool {
		in, out := int64(100+i%17), int64(10+i%5)
		body := fmt.Sprintf(`{"account_email":"acct%d@example.com","model":"model-%d","input_tokens":%d,"output_tokens":%d,"timestamp":%d,"request_id":"live-%d"}`,
			i%3, i%4, in, out, base+int64(i)*10, i)
		code, _ := p.call(t, "POST", "/usage", token, body)
		if code != 200 {
			return false
		}
		mu.Lock()
		acked = append(acked, sent{in, out})
		mu.Unlock()
		return true
	}
	for i := 0; i < 200; i++ {
		if !post(i) {
			t.Fatal("seed post failed")
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 200; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if !post(i) {
				t.Error("post during the backup failed")
				return
			}
		}
	}()
	backup := filepath.Join(t.TempDir(), "copy.db")
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	cmd := exec.Command(bin, "--data-dir", data, "backup", backup)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "backup written") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	close(stop)
	<-stopped

	restore := exec.Command(bin, "--data-dir", data, "restore", backup)
	restore.Env = env
	if out, err := restore.CombinedOutput(); err == nil || !strings.Contains(string(out), "running") {
		t.Fatalf("restore while the app runs: %v\n%s", err, out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.exited; err != nil {
		t.Fatalf("stop: %v", err)
	}
	restore = exec.Command(bin, "--data-dir", data, "restore", backup)
	restore.Env = env
	out, err := restore.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "before-restore-") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	kept, _ := filepath.Glob(filepath.Join(data, "tokenstats.db.before-restore-*"))
	if len(kept) != 1 {
		t.Fatalf("the replaced database was not kept: %v", kept)
	}

	p2 := startBinary(t, bin, env, "--headless", "--listen", "127.0.0.1:0", "--data-dir", data)
	_, sum := p2.call(t, "GET", "/stats/summary?hours=87600", token, "")
	d := sum["data"].(map[string]any)
	m := int(d["total_requests"].(float64))
	if m < before || m > len(acked) {
		t.Fatalf("the restored copy holds %d records; %d were acknowledged before the backup began, %d in all", m, before, len(acked))
	}
	var in, outT int64
	for _, s := range acked[:m] {
		in, outT = in+s.in, outT+s.out
	}
	if d["total_input_tokens"] != float64(in) || d["total_output_tokens"] != float64(outT) {
		t.Fatalf("restored summary %v; the first %d records sum to %d in, %d out", d, m, in, outT)
	}
	_, rows := p2.call(t, "GET", "/stats/by-model?hours=87600", token, "")
	byModel := map[string]float64{}
	for i, s := range acked[:m] {
		byModel[fmt.Sprintf("model-%d", i%4)] += float64(s.in + s.out)
	}
	for _, r := range rows["data"].([]any) {
		row := r.(map[string]any)
		if byModel[row["model"].(string)] != row["total_tokens"] {
			t.Errorf("restored %s: %v, want %v", row["model"], row["total_tokens"], byModel[row["model"].(string)])
		}
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	<-p2.exited
}

// Restore refuses a file that is not a Token Stats database and changes nothing.
func TestRestoreRefusesJunk(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("junk ", 1000)), 0o600)
	cfg := Config{DataDir: filepath.Join(dir, "data")}
	var stdout, stderr bytes.Buffer
	if code := runRestore(cfg, []string{junk}, &stdout, &stderr); code != 1 || stderr.Len() == 0 {
		t.Fatalf("restore of junk: exit %d, %q", code, stderr.String())
	}
	if _, err := os.Stat(cfg.DBPath()); err == nil {
		t.Fatal("a database appeared")
	}
	if code := runRestore(cfg, nil, &stdout, &stderr); code != 2 {
		t.Fatalf("restore without a file: exit %d", code)
	}
}

// The daily backup is made when none is 24 hours old, keeps the newest N, and leaves other files alone.
func TestDailyBackups(t *testing.T) {
	dir := t.TempDir()
	s, _, err := stats.Open(filepath.Join(dir, "tokenstats.db"), stats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	bdir := backupsDir(dir)
	os.MkdirAll(bdir, 0o700)
	os.WriteFile(filepath.Join(bdir, "mine.db"), []byte("a file of the user's"), 0o600)
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	var made []string
	for _, at := range []time.Duration{0, 23 * time.Hour, 24 * time.Hour, 50 * time.Hour, 75 * time.Hour, 99 * time.Hour} {
		if _, err := s.Record(ctx, stats.Record{Time: t0.Add(at), Account: "a", Model: "m", InputTokens: 1}); err != nil {
			t.Fatal(err)
		}
		m, err := dailyBackup(ctx, s, bdir, 3, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		if m != "" {
			made = append(made, filepath.Base(m))
		}
	}
	want := []string{backupName(t0), backupName(t0.Add(24 * time.Hour)), backupName(t0.Add(50 * time.Hour)),
		backupName(t0.Add(75 * time.Hour)), backupName(t0.Add(99 * time.Hour))}
	if fmt.Sprint(made) != fmt.Sprint(want) {
		t.Fatalf("backups made %v, want %v", made, want)
	}
	entries, _ := os.ReadDir(bdir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != fmt.Sprint(append([]string{"mine.db"}, want[2:]...)) {
		t.Fatalf("backups folder holds %v", names)
	}
	// The newest holds the records committed before it: all six.
	c, _, err := stats.Open(filepath.Join(bdir, want[4]), stats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if inf, err := c.Info(ctx); err != nil || inf.Records != 6 {
		t.Fatalf("newest backup: %+v, %v", inf, err)
	}
	if m, err := dailyBackup(ctx, s, bdir, 0, t0.Add(200*time.Hour)); m != "" || err != nil {
		t.Fatalf("with 0 kept a backup was made: %q %v", m, err)
	}
}

// --retention-days and --backups come from flags, their variables or settings.json, in that order, and
// are range-checked; a saved value a flag overrides cannot be saved.
func TestRetentionAndBackupSettings(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	c, err := parseConfig([]string{"--data-dir", dir}, env(), &stderr)
	if err != nil || c.RetentionDays != 0 || c.Backups != DefaultBackups {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--data-dir", dir, "--retention-days", "30"}, env("TOKENSTATS_BACKUPS", "0", "TOKENSTATS_RETENTION_DAYS", "7"), &stderr)
	if err != nil || c.RetentionDays != 30 || c.Backups != 0 || !c.Given["retention-days"] || !c.Given["backups"] {
		t.Fatalf("flags and variables: %+v %v", c, err)
	}
	for _, args := range [][]string{{"--retention-days", "-1"}, {"--backups", "x"}, {"--retention-days", "99999999"}} {
		if _, err := parseConfig(append([]string{"--data-dir", dir}, args...), env(), &stderr); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := parseConfig([]string{"--data-dir", dir}, env("TOKENSTATS_RETENTION_DAYS", "soon"), &stderr); err == nil ||
		!strings.Contains(err.Error(), "TOKENSTATS_RETENTION_DAYS") {
		t.Errorf("a bad variable: %v", err)
	}

	cfg, _ := parseConfig([]string{"--data-dir", dir}, env(), &stderr)
	b := newSettingsBackend(cfg, env(), func(string) {})
	if err := b.SetRetentionDays(90); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBackups(0); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBackups(-1); err == nil {
		t.Error("-1 backups saved")
	}
	if b.RetentionDays() != 90 || b.Backups() != 0 {
		t.Fatalf("saved: %d days, %d backups", b.RetentionDays(), b.Backups())
	}
	raw, _ := os.ReadFile(settingsFile(dir))
	var saved map[string]any
	json.Unmarshal(raw, &saved)
	if saved["retention_days"] != 90.0 || saved["backups"] != 0.0 {
		t.Fatalf("settings.json: %s", raw)
	}
	if got := withSavedSettings(cfg, &stderr); got.RetentionDays != 90 || got.Backups != 0 {
		t.Fatalf("the next start takes %d days, %d backups", got.RetentionDays, got.Backups)
	}
	flagged, _ := parseConfig([]string{"--data-dir", dir, "--retention-days", "5"}, env(), &stderr)
	if got := withSavedSettings(flagged, &stderr); got.RetentionDays != 5 || got.Backups != 0 {
		t.Fatalf("the flag must win: %d days", got.RetentionDays)
	}
	if err := newSettingsBackend(flagged, env(), func(string) {}).SetRetentionDays(1); err == nil {
		t.Error("saving what a flag overrides was accepted")
	}
}
