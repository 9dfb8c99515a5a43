package icons

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
)

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		size int
	}{{"icon.png", App.Content(), 256}, {"tray.png", Tray.Content(), 64}, {"tray-warn.png", TrayWarn.Content(), 64},
		{"tray-alert.png", TrayAlert.Content(), 64}} {
		if b := decode(t, c.b).Bounds(); b.Dx() != c.size || b.Dy() != c.size {
			t.Errorf("%s is %dx%d, want %dx%d", c.name, b.Dx(), b.Dy(), c.size, c.size)
		}
	}
}

// The committed PNGs are what the generator draws.
func TestGeneratedIconsAreCurrent(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	dir := t.TempDir()
	if out, err := exec.Command("go", "run", "../../cmd/icongen", dir).CombinedOutput(); err != nil {
		t.Fatalf("go run cmd/icongen: %v\n%s", err, out)
	}
	for _, name := range []string{"icon.png", "tray.png", "tray-warn.png", "tray-alert.png"} {
		fresh, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, _ := os.ReadFile(name)
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s differs from what ./gen draws: run go generate ./assets/icons", name)
		}
	}
}

func luminance(r, g, b float64) float64 {
	lin := func(c float64) float64 {
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// The tray icons read on light and on dark panels: composited onto white and onto black, most of their
// area stands out from the panel by a WCAG contrast ratio of at least 3:1.
func TestTrayReadsOnLightAndDarkPanels(t *testing.T) {
	for _, icon := range []fyne.Resource{Tray, TrayWarn, TrayAlert} {
		trayReads(t, icon)
	}
}

func trayReads(t *testing.T, icon fyne.Resource) {
	img := decode(t, icon.Content())
	for _, panel := range []struct {
		name string
		v    float64
	}{{"light", 1}, {"dark", 0}} {
		pl := luminance(panel.v, panel.v, panel.v)
		var area, visible float64
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, a := img.At(x, y).RGBA() // premultiplied
				if a < 0xffff/2 {
					continue
				}
				af := float64(a) / 0xffff
				mix := func(c uint32) float64 { return float64(c)/0xffff + panel.v*(1-af) }
				l := luminance(mix(r), mix(g), mix(bl))
				hi, lo := math.Max(l, pl), math.Min(l, pl)
				area++
				if (hi+0.05)/(lo+0.05) >= 3 {
					visible++
				}
			}
		}
		share := visible / area
		t.Logf("%s on a %s panel: %.0f%% of the icon at ≥3:1 contrast", icon.Name(), panel.name, 100*share)
		if area < 0.5*float64(b.Dx()*b.Dy()) || share < 0.6 {
			t.Errorf("%s on a %s panel: icon covers %.0f px, %.0f%% of it at ≥3:1; want most of it", icon.Name(),
				panel.name, area, 100*share)
		}
	}
}
