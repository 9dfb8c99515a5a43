package app

import (
	"io"
	"testing"
	"time"
)

// When the listener fails on its own, whoever waits on Served learns it, and Close still returns.
func TestServedThenCloseDoesNotHang(t *testing.T) {
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()}
	core, err := startCore(cfg, func(k string) string { return "" }, newLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	core.listener.Close() // the listener dies under the server
	select {
	case err := <-core.Served():
		if err == nil {
			t.Error("Served reported nil for a listener that failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Served never reported the failed listener")
	}
	closed := make(chan error, 1)
	go func() { closed <- core.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung after Served was read")
	}
	// After a clean Close, Served reports nil.
	core2, err := startCore(cfg, func(k string) string { return "" }, newLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ch := core2.Served()
	if err := core2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ch; err != nil {
		t.Errorf("Served after Close = %v, want nil", err)
	}
}
