package ui

import (
	"context"
	"image"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// colours counts the distinct colours of an image (up to limit).
func colours(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

func chartPixels(t *testing.T, d *Dashboard) (image.Image, fyne.Size) {
	t.Helper()
	img := d.trend.img.image.Image
	if img == nil {
		t.Fatal("the chart panel shows no image")
	}
	if s := d.trend.img.Size(); s.Width < 100 || s.Height < 100 {
		t.Fatalf("the chart panel is only %v", s)
	}
	return img, d.trend.img.Size()
}

func TestChartFollowsCanvasScaleAndToggle(t *testing.T) {
	st := openStore(t)
	a := test.NewTempApp(t)
	clock := newFakeClock(time.Now())
	d := NewDashboard(a, Deps{Store: st, IngestURL: testURL, Token: func() string { return testToken }, Clock: clock})
	t.Cleanup(d.Close)
	hold(t, d)
	d.win.Resize(fyne.NewSize(1240, 900)) // the first-run panel takes room while the store is empty
	d.Show()
	idle(d)

	// No data: an image that says so, at the panel's size.
	img, size := chartPixels(t, d)
	if b := img.Bounds(); b.Dx() != int(size.Width+0.5) || b.Dy() != int(size.Height+0.5) {
		t.Errorf("scale 1: image %v for a panel of %v", b, size)
	}
	if n := colours(img, 3); n < 2 {
		t.Errorf("the empty chart is blank (%d colour)", n)
	}

	record(t, st,
		rec(time.Hour, "a@x.com", "model-a", 5000, 100, 0),
		rec(2*time.Hour, "b@x.com", "model-b", 9000, 100, 0),
		rec(2*time.Hour, "b@x.com", "model-a", 3000, 100, 0),
	)
	waitShown(t, d, func(n int64) bool { return n == 3 })

	// HiDPI: at scale 2 the image has twice the pixels of the panel, re-rendered after the resize.
	d.win.Canvas().(test.WindowlessCanvas).SetScale(2)
	d.win.Resize(fyne.NewSize(1260, 920))
	idle(d)
	img, size = chartPixels(t, d)
	if b := img.Bounds(); b.Dx() != int(size.Width*2+0.5) || b.Dy() != int(size.Height*2+0.5) {
		t.Errorf("scale 2: image %v for a panel of %v", b, size)
	}
	byModel := img

	// The window draws exactly what package chart's policy draws for its range (24 hours here): the
	// browser tab's test checks the same for the tab's SVG, so both show the same series.
	tr, err := chart.Trend(context.Background(), st, stats.TrendQuery{Dimension: stats.ByModel, End: clock.Now(), Hours: ranges[defaultRange].Hours})
	if err != nil {
		t.Fatal(err)
	}
	want, err := renderTrend(tr, clock.Now(), size, 2, isDark(), d.font)
	if err != nil {
		t.Fatal(err)
	}
	if !sameImage(img, want.img) {
		t.Error("the window's chart is not the policy's chart for its range")
	}

	d.trend.dim.SetSelected("Account")
	idle(d)
	img, _ = chartPixels(t, d)
	if img == byModel || sameImage(img, byModel) {
		t.Error("switching to by account did not redraw the chart")
	}
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}
