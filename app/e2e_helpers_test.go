package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// inDBusSession runs the calling test again inside dbus-run-session (a private session bus) with a
// freshly built binary, and fails unless it passes there. In that inner run it answers the binary and
// true: the caller then does the test. Xvfb, dbus-run-session and tools must be on the PATH (pkgs names
// their Debian packages); without them the test is skipped, or fails with CI=true.
func inDBusSession(t *testing.T, pkgs string, tools ...string) (bin string, inner bool) {
	t.Helper()
	if os.Getenv("TOKENSTATS_E2E_INNER") == t.Name() {
		if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
			t.Fatal("no session bus: the inner test must run inside dbus-run-session")
		}
		return os.Getenv("TOKENSTATS_E2E_BIN"), true
	}
	for _, tool := range append([]string{"Xvfb", "dbus-run-session"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (Debian: %s); skipping %s", tool, pkgs, t.Name())
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	bin = filepath.Join(t.TempDir(), "tokenstats")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tokenstats/tokenstats").CombinedOutput(); err != nil {
		t.Fatalf("build the binary: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dbus-run-session", "--", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "TOKENSTATS_E2E_INNER="+t.Name(), "TOKENSTATS_E2E_BIN="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("inside dbus-run-session:\n%s", out)
	if err != nil {
		t.Fatalf("%s failed inside dbus-run-session: %v", t.Name(), err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatal("the inner test did not report a pass")
	}
	return "", false
}

// desktopSession starts Xvfb and joins the session bus as the panel: a StatusNotifierWatcher that tray
// items register with. The connection closes when the test ends.
func desktopSession(t *testing.T) (display string, conn *dbus.Conn, watcher *sniWatcher) {
	t.Helper()
	display = startXvfb(t)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatalf("connect to the session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if watcher, err = startSNIWatcher(conn); err != nil {
		t.Fatal(err)
	}
	return display, conn, watcher
}

// waitListenURL waits for the app's real address in the data folder's listen-url.
func waitListenURL(t *testing.T, data string) string {
	t.Helper()
	var base string
	if err := waitFor(30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(data, "listen-url"))
		base = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatalf("listen-url never appeared: %v", err)
	}
	return base
}

// sniWatcher is a minimal org.kde.StatusNotifierWatcher, the part of a desktop panel that tray items
// register with. It remembers each item's bus name and object path.
type sniWatcher struct {
	conn  *dbus.Conn
	mu    sync.Mutex
	items []sniItem
	added chan sniItem
}

type sniItem struct {
	Bus  string
	Path dbus.ObjectPath
}

const sniWatcherPath = dbus.ObjectPath("/StatusNotifierWatcher")

func startSNIWatcher(conn *dbus.Conn) (*sniWatcher, error) {
	w := &sniWatcher{conn: conn, added: make(chan sniItem, 8)}
	if err := conn.Export(w, sniWatcherPath, "org.kde.StatusNotifierWatcher"); err != nil {
		return nil, fmt.Errorf("export watcher: %w", err)
	}
	_, err := prop.Export(conn, sniWatcherPath, map[string]map[string]*prop.Prop{
		"org.kde.StatusNotifierWatcher": {
			"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
			"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
			"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("export watcher properties: %w", err)
	}
	reply, err := conn.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue)
	if err != nil {
		return nil, fmt.Errorf("own org.kde.StatusNotifierWatcher: %w", err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return nil, fmt.Errorf("own org.kde.StatusNotifierWatcher: reply %v", reply)
	}
	return w, nil
}

// RegisterStatusNotifierItem is called by tray items; service is an object path (the caller's bus name
// is the sender) or a bus name (the path is then the standard one).
func (w *sniWatcher) RegisterStatusNotifierItem(service string, sender dbus.Sender) *dbus.Error {
	it := sniItem{Bus: string(sender), Path: "/StatusNotifierItem"}
	if strings.HasPrefix(service, "/") {
		it.Path = dbus.ObjectPath(service)
	} else if service != "" {
		it.Bus = service
	}
	w.mu.Lock()
	w.items = append(w.items, it)
	w.mu.Unlock()
	select {
	case w.added <- it:
	default:
	}
	w.conn.Emit(sniWatcherPath, "org.kde.StatusNotifierWatcher.StatusNotifierItemRegistered", it.Bus+string(it.Path))
	return nil
}

// RegisterStatusNotifierHost is accepted and ignored: the test is the host.
func (w *sniWatcher) RegisterStatusNotifierHost(string) *dbus.Error { return nil }

// sniToolTip is the StatusNotifierItem ToolTip property: (icon name, icon pixmaps, title, text).
type sniToolTip struct {
	IconName string
	Pixmaps  []struct {
		W, H int32
		Data []byte
	}
	Title, Text string
}

func readToolTip(conn *dbus.Conn, it sniItem) (sniToolTip, error) {
	var tt sniToolTip
	v, err := conn.Object(it.Bus, it.Path).GetProperty("org.kde.StatusNotifierItem.ToolTip")
	if err != nil {
		return tt, fmt.Errorf("read ToolTip: %w", err)
	}
	if err := v.Store(&tt); err != nil {
		return tt, fmt.Errorf("decode ToolTip %v: %w", v, err)
	}
	return tt, nil
}

// x11CloseWindow asks a window to close the way a window manager's close button does: a WM_PROTOCOLS
// ClientMessage carrying WM_DELETE_WINDOW, sent to the window's owner. Raw X11 protocol over the
// display's Unix socket, as Xvfb runs without a window manager and no X tool here sends client messages.
func x11CloseWindow(display string, win uint32) error {
	c, err := net.DialTimeout("unix", "/tmp/.X11-unix/X"+strings.TrimPrefix(display, ":"), 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect to X display %s: %w", display, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	le := binary.LittleEndian
	// Connection setup: little endian, protocol 11.0, no authorization.
	if _, err := c.Write([]byte{'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		return err
	}
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return fmt.Errorf("X setup: %w", err)
	}
	if _, err := io.ReadFull(c, make([]byte, int(le.Uint16(hdr[6:]))*4)); err != nil {
		return fmt.Errorf("X setup: %w", err)
	}
	if hdr[0] != 1 {
		return errors.New("X setup refused")
	}
	intern := func(name string) (uint32, error) {
		n := len(name)
		req := make([]byte, 8+(n+3)/4*4)
		req[0] = 16 // InternAtom
		le.PutUint16(req[2:], uint16(len(req)/4))
		le.PutUint16(req[4:], uint16(n))
		copy(req[8:], name)
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		rep := make([]byte, 32)
		if _, err := io.ReadFull(c, rep); err != nil {
			return 0, err
		}
		if rep[0] != 1 {
			return 0, fmt.Errorf("InternAtom %s: X error %d", name, rep[1])
		}
		return le.Uint32(rep[8:]), nil
	}
	protocols, err := intern("WM_PROTOCOLS")
	if err != nil {
		return err
	}
	del, err := intern("WM_DELETE_WINDOW")
	if err != nil {
		return err
	}
	req := make([]byte, 44)
	req[0] = 25 // SendEvent, propagate false, empty mask: goes to the window's creator
	le.PutUint16(req[2:], 11)
	le.PutUint32(req[4:], win)
	ev := req[12:]
	ev[0] = 33 // ClientMessage
	ev[1] = 32 // format
	le.PutUint32(ev[4:], win)
	le.PutUint32(ev[8:], protocols)
	le.PutUint32(ev[12:], del)
	if _, err := c.Write(req); err != nil {
		return err
	}
	// A round trip, so the event was processed before we hang up.
	_, err = intern("WM_DELETE_WINDOW")
	return err
}

// menuEntry is one dbusmenu item: its id and label.
type menuEntry struct {
	ID    int32
	Label string
}

type dbusmenuLayout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// trayMenu reads the item's menu over com.canonical.dbusmenu, as a panel does to draw it.
func trayMenu(conn *dbus.Conn, it sniItem) (dbus.BusObject, []menuEntry, error) {
	v, err := conn.Object(it.Bus, it.Path).GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		return nil, nil, fmt.Errorf("read Menu: %w", err)
	}
	path, ok := v.Value().(dbus.ObjectPath)
	if !ok {
		return nil, nil, fmt.Errorf("Menu is %v, not an object path", v)
	}
	menu := conn.Object(it.Bus, path)
	var rev uint32
	var root dbusmenuLayout
	if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
		return nil, nil, fmt.Errorf("GetLayout: %w", err)
	}
	var entries []menuEntry
	for _, c := range root.Children {
		var child dbusmenuLayout
		if err := dbus.Store([]interface{}{c.Value()}, &child); err != nil {
			return nil, nil, fmt.Errorf("decode menu item %v: %w", c, err)
		}
		label, _ := child.Props["label"].Value().(string)
		entries = append(entries, menuEntry{ID: child.ID, Label: label})
	}
	return menu, entries, nil
}
