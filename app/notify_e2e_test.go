package app

import (
	"bytes"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"github.com/godbus/dbus/v5"

	"github.com/tokenstats/tokenstats/assets/icons"
)

// notificationStub is org.freedesktop.Notifications as a desktop's notification daemon offers it: it
// keeps every Notify call.
type notificationStub struct {
	mu   sync.Mutex
	sent []sentNotification
}

type sentNotification struct{ App, Summary, Body string }

func (n *notificationStub) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, sentNotification{app, summary, body})
	return uint32(len(n.sent)), nil
}

func (n *notificationStub) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

func (n *notificationStub) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "stub", "tokenstats-test", "1", "1.2", nil
}

func (n *notificationStub) CloseNotification(uint32) *dbus.Error { return nil }

func (n *notificationStub) all() []sentNotification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sentNotification(nil), n.sent...)
}

func startNotificationStub(conn *dbus.Conn) (*notificationStub, error) {
	n := &notificationStub{}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		return nil, err
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		return nil, fmt.Errorf("own org.freedesktop.Notifications: %v %v", reply, err)
	}
	return n, nil
}

// pixmapOf is the StatusNotifierItem pixmap (ARGB) fyne.io/systray makes of a PNG icon.
func pixmapOf(t *testing.T, r fyne.Resource) []byte {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(r.Content()))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*4)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			out = append(out, byte(a), byte(r), byte(g), byte(bl))
		}
	}
	return out
}

// trayState reads the tray icon's pixmap and says which of the three icons it is.
func trayState(conn *dbus.Conn, it sniItem, states map[string][]byte) (string, error) {
	v, err := conn.Object(it.Bus, it.Path).GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		return "", fmt.Errorf("read IconPixmap: %w", err)
	}
	var pix []struct {
		W, H int32
		Data []byte
	}
	if err := v.Store(&pix); err != nil || len(pix) != 1 {
		return "", fmt.Errorf("IconPixmap %v: %v", v, err)
	}
	for name, want := range states {
		if bytes.Equal(pix[0].Data, want) {
			return name, nil
		}
	}
	return "", fmt.Errorf("the tray shows a %d×%d icon that is none of ours", pix[0].W, pix[0].H)
}

// TestNotificationsE2E runs the real binary under Xvfb in a private D-Bus session, with a stub
// notification daemon and a StatusNotifierWatcher written for the test: a limit's thresholds give one
// notification each, the tray icon turns amber then red (read back over D-Bus), and a restart in the
// same period notifies nothing again.
func TestNotificationsE2E(t *testing.T) {
	if bin, inner := inDBusSession(t, "xvfb, dbus"); inner {
		notifyE2E(t, bin)
	}
}

func notifyE2E(t *testing.T, bin string) {
	display, conn, watcher := desktopSession(t)
	stub, err := startNotificationStub(conn)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string][]byte{"normal": pixmapOf(t, icons.Tray), "warning": pixmapOf(t, icons.TrayWarn),
		"reached": pixmapOf(t, icons.TrayAlert)}

	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	const token = "e2e-token-notify-0123456789"
	env := append(os.Environ(), "DISPLAY="+display, "TOKENSTATS_TOKEN="+token, "HOME="+tmp,
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "TOKENSTATS_TZ=", "TOKENSTATS_LISTEN=", "TOKENSTATS_HEADLESS=")
	// The limit's day is in a zone where it is about noon now, so the test never straddles its midnight.
	offset := 12 - time.Now().UTC().Hour()     // hours east of UTC
	zone := fmt.Sprintf("Etc/GMT%+d", -offset) // the Etc zones count west
	var app *exec.Cmd
	var appOut lockedBuffer
	var exited chan error
	launch := func() (string, sniItem) {
		t.Helper()
		app = exec.Command(bin, "--listen", "127.0.0.1:0", "--data-dir", data)
		app.Env = env
		app.Stdout, app.Stderr = &appOut, &appOut
		if err := app.Start(); err != nil {
			t.Fatalf("start the app: %v", err)
		}
		exited = make(chan error, 1)
		go func() { exited <- app.Wait() }()
		base := waitListenURL(t, data)
		select {
		case it := <-watcher.added:
			return base, it
		case <-time.After(30 * time.Second):
			t.Fatal("the tray item never registered")
		}
		return "", sniItem{}
	}
	defer func() {
		if app != nil && app.ProcessState == nil {
			app.Process.Kill()
			<-exited
		}
		t.Logf("app output:\n%s", appOut.String())
	}()
	waitTray := func(it sniItem, want string) {
		t.Helper()
		if err := waitFor(10*time.Second, func() error {
			got, err := trayState(conn, it, states)
			if err == nil && got != want {
				err = fmt.Errorf("the tray shows %s", got)
			}
			return err
		}); err != nil {
			t.Fatalf("waiting for the %s tray icon: %v", want, err)
		}
	}
	waitNotified := func(n int) {
		t.Helper()
		if err := waitFor(10*time.Second, func() error {
			if got := len(stub.all()); got != n {
				return fmt.Errorf("%d notifications", got)
			}
			return nil
		}); err != nil {
			t.Fatalf("waiting for notification %d: %v (%+v)", n, err, stub.all())
		}
	}

	base, item := launch()
	waitTray(item, "normal")
	req, _ := http.NewRequest(http.MethodPost, base+"/stats/limits", strings.NewReader(fmt.Sprintf(
		`{"scope": "all", "metric": "tokens", "period": "day", "zone": %q, "limit": 1000, "thresholds": [80, 100]}`, zone)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /stats/limits: %s %s", resp.Status, body)
	}

	postRecords(t, base, token, []e2eRecord{{Account: "a@example.com", Model: "local-model", Input: 800, Output: 50}})
	waitNotified(1)
	waitTray(item, "warning")
	postRecords(t, base, token, []e2eRecord{{Account: "a@example.com", Model: "local-model", Input: 100, Output: 50}})
	waitNotified(2)
	waitTray(item, "reached")
	sent := stub.all()
	if sent[0].App != AppID || sent[0].Summary != "Limit at 80 %" || !strings.HasPrefix(sent[0].Body, "All usage: 850 of 1K tokens today (85 %)") ||
		sent[1].Summary != "Limit reached" || !strings.HasPrefix(sent[1].Body, "All usage: 1K of 1K tokens today (100 %)") {
		t.Errorf("notifications %+v", sent)
	}

	// Quit from the tray menu and start again: the same period, nothing announced twice.
	menu, entries, err := trayMenu(conn, item)
	if err != nil {
		t.Fatal(err)
	}
	quit := int32(-1)
	for _, e := range entries {
		if e.Label == "Quit" {
			quit = e.ID
		}
	}
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, quit, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatalf("click Quit: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the app quit with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the app did not quit")
	}
	base, item = launch()
	// The icon turns red only after the limits were checked (and anything due was announced) at start.
	waitTray(item, "reached")
	postRecords(t, base, token, []e2eRecord{{Account: "a@example.com", Model: "local-model", Input: 7, Output: 0}})
	if err := waitFor(10*time.Second, func() error {
		tip, err := readToolTip(conn, item)
		if err == nil && !strings.Contains(tip.Title, "today 1K tokens (unpriced) · 3 requests") {
			err = fmt.Errorf("tooltip %q", tip.Title)
		}
		return err
	}); err != nil {
		t.Fatalf("the third record never showed: %v", err)
	}
	if got := stub.all(); len(got) != 2 {
		t.Errorf("after a restart in the same period: %d notifications, want the same 2: %+v", len(got), got)
	}
	if tip, _ := readToolTip(conn, item); !strings.Contains(tip.Title, "All usage: 100 % of 1K tokens today, resets in") {
		t.Errorf("tooltip %q does not name the limit", tip.Title)
	}
}
