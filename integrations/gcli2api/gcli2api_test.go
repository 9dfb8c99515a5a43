package gcli2api_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestPythonDropIn builds the real tokenstats binary and runs the drop-in's Python suite with
// TOKENSTATS_BIN set, so that `go test ./...` covers token_stats.py against the real app.
func TestPythonDropIn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Python suite")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is missing; CI must have it")
		}
		t.Skip("python3 is missing; skipping the gcli2api drop-in tests")
	}
	bin := filepath.Join(t.TempDir(), "tokenstats")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	// go test puts its own GOROOT/bin first on PATH, so this is the go that runs the tests.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	build := exec.Command(goTool, "build", "-o", bin, "github.com/tokenstats/tokenstats")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tokenstats: %v\n%s", err, out)
	}
	cmd := exec.Command(python, "-m", "unittest", "-v", "test_token_stats")
	cmd.Env = append(os.Environ(), "TOKENSTATS_BIN="+bin, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("python3 -m unittest test_token_stats:\n%s", out)
	if err != nil {
		t.Fatalf("the Python suite failed: %v", err)
	}
}
