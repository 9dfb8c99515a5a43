package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one run of the headless binary.
type server struct {
	cmd     *exec.Cmd
	url     string
	token   string
	started time.Duration // from exec until /healthz answered
	stderr  *os.File
}

func startServer(bin, dataDir, token string) (*server, error) {
	return startBinary(bin, dataDir, token, "--headless")
}

// startBinary runs the binary on a free loopback port with extra flags (none: the desktop app).
func startBinary(bin, dataDir, token string, extra ...string) (*server, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	args := append(extra, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--tz", "UTC")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TOKENSTATS_TOKEN="+token)
	errf, err := os.Create(filepath.Join(dataDir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, token: token, stderr: errf}
	line, err := readURLLine(bufio.NewReader(out))
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("server printed no address (see %s): %w", errf.Name(), err)
	}
	go io.Copy(io.Discard, out)
	i := strings.Index(line, "http://")
	if i < 0 {
		s.kill()
		return nil, fmt.Errorf("no URL in %q", line)
	}
	s.url = strings.Fields(line[i:])[0]
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > 60*time.Second {
			s.kill()
			return nil, errors.New("/healthz did not answer within 60 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.started = time.Since(t0)
	return s, nil
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func (s *server) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return -1
}

// stop ends the server with SIGTERM (a clean close) and waits.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	select {
	case err := <-done:
		s.stderr.Close()
		return err
	case <-ctx.Done():
		s.kill()
		return errors.New("server did not stop within 60 s of SIGTERM")
	}
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.stderr.Close()
}

// readURLLine skips what the app prints before the line with its address.
func readURLLine(r *bufio.Reader) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil || strings.Contains(line, "http://") {
			return line, err
		}
	}
}
