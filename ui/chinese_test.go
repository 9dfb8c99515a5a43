package ui

import (
	"image"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/assets/fonts"
	"github.com/tokenstats/tokenstats/stats"
)

// crop copies a rectangle of img.
func crop(img image.Image, r image.Rectangle) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			out.Set(x, y, img.At(r.Min.X+x, r.Min.Y+y))
		}
	}
	return out
}

// glyphCells cuts the text of a label in a window capture into one cell per character, for text whose
// characters are all as wide (CJK characters, or the same missing glyph).
func glyphCells(img image.Image, l *widget.Label) []image.Image {
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(l)
	n := len([]rune(l.Text))
	w := fyne.MeasureText(l.Text, theme.TextSize(), l.TextStyle).Width / float32(n)
	em := int(theme.TextSize())
	pad := theme.InnerPadding()
	y0 := int(pos.Y + pad)
	var out []image.Image
	for i := 0; i < n; i++ {
		x0, x1 := int(pos.X+pad+float32(i)*w+0.5), int(pos.X+pad+float32(i+1)*w+0.5)
		out = append(out, crop(img, image.Rect(x0, y0, x1, y0+em+em/2)))
	}
	return out
}

// ink is where a cell holds text: the pixels far from the colour of its top-left corner (the ground,
// which differs with what lies under a label).
func ink(img image.Image) []bool {
	b := img.Bounds()
	r0, g0, b0, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	diff := func(a, b uint32) uint32 {
		if a > b {
			return a - b
		}
		return b - a
	}
	var out []bool
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, diff(r, r0)+diff(g, g0)+diff(bl, b0) > 0x8000)
		}
	}
	return out
}

// inked tells whether a cell holds text.
func inked(img image.Image) bool { return slices.Contains(ink(img), true) }

// distinct counts the cells whose ink differs from that of every cell before them.
func distinct(cells []image.Image) int {
	n := 0
	for i, c := range cells {
		same := false
		for _, p := range cells[:i] {
			if slices.Equal(ink(c), ink(p)) {
				same = true
			}
		}
		if !same {
			n++
		}
	}
	return n
}

// The 简体中文 window draws Chinese, not boxes, on a machine without a CJK font: the theme's font is
// the embedded one, and in a capture of the window the characters of a Chinese label are drawn, each
// different from the others — where a missing glyph is drawn as the same box every time, which the
// test also checks, so it can tell the two apart. The chart draws Chinese names with the same font
// (package chart's test checks its glyphs).
func TestChineseWindowDrawsChineseGlyphs(t *testing.T) {
	if err := UseLanguage("zh-Hans"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UseLanguage("en") })
	st := openStore(t)
	record(t, st,
		stats.Record{Time: time.Now().Add(-time.Hour), Account: "张伟@例子.cn", Model: "通义千问", InputTokens: 5000, OutputTokens: 12},
		stats.Record{Time: time.Now().Add(-2 * time.Hour), Account: "alice@example.com", Model: "gemini-2.5-pro", InputTokens: 700, OutputTokens: 3},
	)
	d := newTestDashboard(t, st, Settings{})
	reg, err := fonts.Regular()
	if err != nil {
		t.Fatal(err)
	}
	if f := fyne.CurrentApp().Settings().Theme().Font(fyne.TextStyle{}); string(f.Content()) != string(reg) {
		t.Errorf("the theme's text font is %s, not the embedded Noto Sans SC", f.Name())
	}
	// One label per character, in the app's theme and, for comparison, in Fyne's own theme (whose font
	// has no CJK glyph), in a plain window of their own.
	const text = "时间范围账号模型"
	var ours, plain []*widget.Label
	var objs []fyne.CanvasObject
	for _, th := range []fyne.Theme{nil, theme.DefaultTheme()} {
		for _, r := range text {
			l := widget.NewLabel(string(r))
			if th == nil {
				ours = append(ours, l)
				objs = append(objs, l)
			} else {
				plain = append(plain, l)
				objs = append(objs, container.NewThemeOverride(l, th))
			}
		}
	}
	probe := fyne.CurrentApp().NewWindow("probe")
	probe.SetContent(container.NewGridWrap(fyne.NewSize(40, 40), objs...)) // whole-pixel places: same marks, same pixels
	probe.Resize(fyne.NewSize(360, 100))
	probeImg := probe.Canvas().Capture()
	var rangeLabel *widget.Label
	walk(d.win.Content(), func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok && l.Text == "时间范围" {
			rangeLabel = l
		}
	})
	if rangeLabel == nil {
		t.Fatal("no 时间范围 label: the window is not in Chinese")
	}
	img := d.win.Canvas().Capture()

	// The window's own label: four characters, each drawn, all different.
	cells := glyphCells(img, rangeLabel)
	for i, cell := range cells {
		if !inked(cell) {
			t.Errorf("时间范围: character %d is blank", i)
		}
	}
	if got := distinct(cells); got != 4 {
		t.Errorf("时间范围: %d of 4 characters are drawn differently; the rest look alike (boxes?)", got)
	}
	crops := func(ls []*widget.Label) []image.Image {
		var out []image.Image
		for _, l := range ls {
			p := fyne.CurrentApp().Driver().AbsolutePositionForObject(l)
			out = append(out, crop(probeImg, image.Rect(int(p.X), int(p.Y), int(p.X+l.Size().Width), int(p.Y+l.Size().Height))))
		}
		return out
	}
	if got := distinct(crops(ours)); got != len(ours) {
		t.Errorf("%d of %d characters are drawn differently in the window's theme", got, len(ours))
	}
	// Without the embedded font, every character is the same missing-glyph mark: the check above can
	// tell. (A machine with a CJK system font draws them through Fyne's fallback: nothing to compare.)
	if got := distinct(crops(plain)); got != 1 {
		t.Logf("Fyne's own font drew %d different marks: this machine has a CJK font", got)
	} else {
		t.Logf("without the embedded font the %d characters are one and the same mark", len(plain))
	}
	if d.font == nil || !d.font.Has('通') {
		t.Error("the chart's font cannot draw 通")
	}
	var named bool
	for _, s := range d.shot.in.Series {
		named = named || s.Name == "通义千问"
	}
	if !named {
		t.Errorf("the chart does not show the Chinese model: %v", d.shot.in.Series)
	}
}
