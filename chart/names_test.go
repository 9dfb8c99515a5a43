package chart

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/assets/fonts"
	"github.com/tokenstats/tokenstats/stats"
)

// swatchOf is the swatch a chart gives a name.
func swatchOf(t *testing.T, in Input, name string) Swatch {
	t.Helper()
	sw := Swatches(in.Series)
	for i, s := range in.Series {
		if s.Name == name {
			return sw[i]
		}
	}
	t.Fatalf("no series %q in %v", name, names(in))
	return Swatch{}
}

// pixelAt is the colour at the middle of period i, at the height of value v.
func pixelAt(img image.Image, lay Layout, i int, frac float64) (r, g, b uint8) {
	x := lay.Left + int((float64(i)+0.5)*float64(lay.Right-lay.Left)/float64(lay.Periods))
	y := lay.Bottom - int(frac*float64(lay.Bottom-lay.Top))
	cr, cg, cb, _ := img.At(x, y).RGBA()
	return uint8(cr >> 8), uint8(cg >> 8), uint8(cb >> 8)
}

// A name has the same colour in every range and after a new name appears, on screen as in Swatches.
func TestColoursBelongToNames(t *testing.T) {
	day := trendOf(map[string]int64{"gemini-2.5-pro": 900, "claude-sonnet": 50, "gpt-5": 300})
	month := trendOf(
		map[string]int64{"claude-sonnet": 5000, "qwen3-coder": 4000, "gemini-2.5-pro": 10},
		map[string]int64{"deepseek-chat": 7000, "gpt-5": 1},
	)
	a, b := fromTrend(day, time.Time{}, "en", 8), fromTrend(month, time.Time{}, "en", 8)
	for _, name := range []string{"gemini-2.5-pro", "claude-sonnet", "gpt-5"} {
		sa, sb := swatchOf(t, a, name), swatchOf(t, b, name)
		want := Palette[ColorIndex(name)]
		if sa.Color != want || sb.Color != want {
			t.Errorf("%s: %s in one range, %s in the other, want %s", name, sa.Color, sb.Color, want)
		}
	}
	// Ranks differ between the two (gemini is first in one, last in the other): the colours did not follow them.
	if a.Series[0].Name == b.Series[0].Name {
		t.Fatal("setup: the two ranges rank the same name first")
	}
	// A new series appears live: every colour stays.
	grown := trendOf(map[string]int64{"gemini-2.5-pro": 900, "claude-sonnet": 50, "gpt-5": 300, "kimi-k2": 5000})
	c := fromTrend(grown, time.Time{}, "en", 8)
	for _, name := range []string{"gemini-2.5-pro", "claude-sonnet", "gpt-5"} {
		if swatchOf(t, a, name).Color != swatchOf(t, c, name).Color {
			t.Errorf("%s changed colour when kimi-k2 appeared", name)
		}
	}
	// And the drawing uses them: each name's colour is under its own band in both charts.
	for _, in := range []Input{a, c} {
		img, lay, err := PNG(in, Options{Width: 400, Height: 300})
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, s := range in.Series {
			total += s.Values[0]
		}
		top := yTicks(total, Tokens)
		max := top[len(top)-1].Value
		cum := 0.0
		for _, s := range in.Series {
			mid := (cum + s.Values[0]/2) / max
			cum += s.Values[0]
			if s.Values[0]/max < 0.03 {
				continue // too thin to hit reliably
			}
			r, g, bl := pixelAt(img, lay, 0, mid)
			if got, want := fmt.Sprintf("%02x%02x%02x", r, g, bl), Palette[ColorIndex(s.Name)]; got != want {
				t.Errorf("%s is drawn %s, its colour is %s", s.Name, got, want)
			}
		}
	}
}

// Two names that share a colour keep it; the one that sorts first is solid, the next striped, whatever
// the order they come in. "other" is grey, a model named "other" is not.
func TestColourCollisionRule(t *testing.T) {
	byIndex := map[int][]string{}
	for i := 0; len(byIndex[ColorIndex("model-0")]) < 3; i++ {
		n := fmt.Sprintf("model-%d", i)
		byIndex[ColorIndex(n)] = append(byIndex[ColorIndex(n)], n)
	}
	trio := byIndex[ColorIndex("model-0")]
	x, y, z := trio[0], trio[1], trio[2] // sorted: generated in order, and "model-0" < "model-1…"
	if !(x < y && y < z) {
		t.Fatalf("setup: %q", trio)
	}
	for _, order := range [][]string{{x, y, z}, {z, y, x}, {y, z, x}} {
		var in Input
		for _, n := range order {
			in.Series = append(in.Series, Series{Name: n, Values: []float64{1}})
		}
		in.Series = append(in.Series, Series{Name: "other", Values: []float64{1}}, Series{Name: "rest", Other: true, Values: []float64{1}})
		sw := Swatches(in.Series)
		got := map[string]Swatch{}
		for i, s := range in.Series {
			got[s.Name] = sw[i]
		}
		want := Palette[ColorIndex(x)]
		if got[x] != (Swatch{want, Solid}) || got[y] != (Swatch{want, Stripes}) || got[z] != (Swatch{want, BackStripes}) {
			t.Errorf("order %q: %v", order, got)
		}
		if got["rest"] != (Swatch{OtherColor, Solid}) || got["other"].Color != Palette[ColorIndex("other")] {
			t.Errorf("other: %v, a model named other: %v", got["rest"], got["other"])
		}
	}
	// Stripes are drawn: the striped band holds near-background pixels, the solid one none.
	in := Input{Labels: []string{"a", "b"}, Series: []Series{{Name: x, Values: []float64{10, 10}}, {Name: y, Values: []float64{10, 10}}}}
	img, lay, err := PNG(in, Options{Width: 300, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	// Stripes are background-coloured lines, anti-aliased: count the pixels near white.
	white := func(from, to float64) int {
		n := 0
		for f := from; f < to; f += 0.01 {
			for i := 0; i < 2; i++ {
				for dx := -10; dx <= 10; dx++ {
					px := lay.Left + int((float64(i)+0.5)*float64(lay.Right-lay.Left)/2) + dx
					py := lay.Bottom - int(f*float64(lay.Bottom-lay.Top))
					if r, g, b, _ := img.At(px, py).RGBA(); r>>8 > 230 && g>>8 > 200 && b>>8 > 200 { // near white
						n++
					}
				}
			}
		}
		return n
	}
	// The ticks end at 20 here, so the solid band is 0–0.5 of the plot and the striped one 0.5–1.
	if solid, striped := white(0.05, 0.45), white(0.55, 0.95); solid != 0 || striped < 50 {
		t.Errorf("background pixels: %d in the solid band, %d in the striped one", solid, striped)
	}
}

// The periods the window covers only in part are drawn lighter; whole ones in full colour.
func TestPartialPeriodsAreLighter(t *testing.T) {
	in := Input{Labels: []string{"a", "b", "c"}, Partial: []bool{true, false, true},
		Series: []Series{{Name: "m", Values: []float64{10, 10, 10}}}}
	for _, dark := range []bool{false, true} {
		img, lay, err := PNG(in, Options{Width: 300, Height: 200, Dark: dark})
		if err != nil {
			t.Fatal(err)
		}
		th := light
		if dark {
			th = darkLook
		}
		full := hex(Palette[ColorIndex("m")])
		faded := mix(full, th.background, partialFade)
		for i, want := range []string{hexOf(faded), hexOf(full), hexOf(faded)} {
			r, g, b := pixelAt(img, lay, i, 0.3)
			if got := fmt.Sprintf("%02x%02x%02x", r, g, b); got != want {
				t.Errorf("dark=%v period %d: %s, want %s", dark, i, got, want)
			}
		}
	}
}

// The layout tells which period is under the pointer.
func TestLayoutPeriod(t *testing.T) {
	in := Input{Labels: []string{"a", "b", "c", "d"}, Series: []Series{{Name: "m", Values: []float64{1, 2, 3, 4}}}}
	_, lay, err := PNG(in, Options{Width: 400, Height: 200, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if lay.Width != 800 || lay.Height != 400 || lay.Periods != 4 || lay.Left >= lay.Right || lay.Top >= lay.Bottom {
		t.Fatalf("layout %+v", lay)
	}
	w := float64(lay.Right-lay.Left) / 4
	y := float64(lay.Bottom - 5)
	for i := 0; i < 4; i++ {
		for _, x := range []float64{float64(lay.Left) + w*float64(i) + 1, float64(lay.Left) + w*float64(i+1) - 1} {
			if got := lay.Period(x, y); got != i {
				t.Errorf("x %v: period %d, want %d", x, got, i)
			}
		}
	}
	for _, p := range [][2]float64{{float64(lay.Left) - 1, y}, {float64(lay.Right), y}, {float64(lay.Left) + 3, float64(lay.Bottom) + 3}} {
		if got := lay.Period(p[0], p[1]); got != -1 {
			t.Errorf("%v is outside the plot, got period %d", p, got)
		}
	}
	if got := (Layout{}).Period(10, 10); got != -1 {
		t.Errorf("no-data layout: period %d", got)
	}
}

// A real store's trend: the first and the current hour are partial, hours between are whole; labels,
// hover times and units follow the language and the metric.
func TestFromTrendPartialTimesAndLanguage(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().In(loc)
	end := time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), 20, 0, 0, loc).Add(-time.Hour)
	if _, err := st.Record(context.Background(), stats.Record{Time: end.Add(-2 * time.Hour), Account: "a", Model: "通义千问", InputTokens: 10}); err != nil {
		t.Fatal(err)
	}
	tr, err := Trend(context.Background(), st, stats.TrendQuery{Dimension: stats.ByModel, End: end, Hours: 24, Metric: stats.MetricRequests})
	if err != nil {
		t.Fatal(err)
	}
	en, zh := FromTrend(tr, end, "en"), FromTrend(tr, end, "zh-Hans")
	n := en.Periods()
	if n != 25 || !en.Partial[0] || !en.Partial[n-1] || en.Partial[1] || en.Partial[n-2] {
		t.Fatalf("%d periods, partial %v", n, en.Partial)
	}
	if en.Unit != Requests || en.Series[0].Name != "通义千问" || en.Series[0].Values[n-3] != 1 {
		t.Errorf("unit %v, series %+v", en.Unit, en.Series)
	}
	last := tr.Periods[n-1].Start
	hour := last.Truncate(time.Hour)
	if want := hour.Format("Mon Jan 2 2006, 15:04") + "–" + hour.Add(time.Hour).Format("15:04"); en.Times[n-1] != want {
		t.Errorf("hover time %q, want %q", en.Times[n-1], want)
	}
	if want := fmt.Sprintf("%d年%d月%d日", hour.Year(), hour.Month(), hour.Day()); !strings.HasPrefix(zh.Times[n-1], want) || !strings.Contains(zh.Times[n-1], "周") {
		t.Errorf("Chinese hover time %q, want it to start %q and name the weekday", zh.Times[n-1], want)
	}
	for i, p := range tr.Periods {
		start, _ := periodStart(tr, p)
		if start.Hour() == 0 {
			if want := fmt.Sprintf("%d月%d日", start.Month(), start.Day()); zh.Labels[i] != want || en.Labels[i] != start.Format("Jan 02") {
				t.Errorf("midnight label %q / %q, want %q / %q", zh.Labels[i], en.Labels[i], want, start.Format("Jan 02"))
			}
		}
	}
	// A month by day: the first day partial, the days between whole, today partial.
	day, err := Trend(context.Background(), st, stats.TrendQuery{Dimension: stats.ByModel, End: end, Hours: 720})
	if err != nil {
		t.Fatal(err)
	}
	in := FromTrend(day, end, "zh-Hans")
	if p := in.Partial; !p[0] || p[1] || !p[len(p)-1] {
		t.Errorf("daily partial %v", p)
	}
	if last := day.Periods[len(day.Periods)-1].Start; in.Labels[len(in.Labels)-1] != fmt.Sprintf("%d月%d日", last.Month(), last.Day()) {
		t.Errorf("daily Chinese label %q", in.Labels[len(in.Labels)-1])
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		u           Unit
		v           float64
		axis, value string
	}{
		{Tokens, 1_234_567, "1.2M", "1,234,567"},
		{Requests, 20_000, "20K", "20,000"},
		{Cost, 250_000_000, "$0.25", "$0.25"},
		{Cost, 12_345_678, "$0.012346", "$0.012345678"},
		{Cost, 1_500_000_000_000, "$1.5K", "$1500"},
		{Cost, 0, "$0", "$0"},
	} {
		if got := c.u.Axis(c.v); got != c.axis {
			t.Errorf("%v axis %v: %q, want %q", c.u, c.v, got, c.axis)
		}
		if got := c.u.Value(c.v); got != c.value {
			t.Errorf("%v value %v: %q, want %q", c.u, c.v, got, c.value)
		}
	}
	ticks := yTicks(3.2e9, Cost) // $3.20 at most
	var labels []string
	for _, tk := range ticks {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "$0 $1 $2 $3 $4" {
		t.Errorf("cost ticks %q", got)
	}
}

// Chinese draws as Chinese with the embedded font: each character renders differently from the others
// and from the missing-glyph box. With go-chart's own font every one of them is that box, which is
// what a user saw before; the test checks that too, so it can tell the difference.
func TestChineseGlyphsAreNotBoxes(t *testing.T) {
	ttf, err := fonts.Regular()
	if err != nil {
		t.Fatal(err)
	}
	cjk, err := LoadFont(ttf)
	if err != nil {
		t.Fatal(err)
	}
	render := func(f *Font, s string) image.Image {
		img, _, err := PNG(Input{}, Options{Width: 120, Height: 60, NoDataText: s, Font: f})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	const box = "\ue000" // private use: no font has it
	glyphs := []rune("按模型账号月日")
	for _, f := range []*Font{cjk, nil} {
		missing := render(f, box)
		var imgs []image.Image
		boxes := 0
		for _, r := range glyphs {
			img := render(f, string(r))
			if equal(img, missing) {
				boxes++
			}
			imgs = append(imgs, img)
		}
		distinct := 0
		for i := 1; i < len(imgs); i++ {
			if !equal(imgs[i], imgs[0]) {
				distinct++
			}
		}
		if f == cjk && (boxes != 0 || distinct != len(glyphs)-1) {
			t.Errorf("embedded font: %d of %d characters drawn as the missing-glyph box, %d distinct", boxes, len(glyphs), distinct+1)
		}
		if f == nil && boxes != len(glyphs) {
			t.Errorf("go-chart's font drew %d of %d Chinese characters as boxes: the check cannot tell", boxes, len(glyphs))
		}
	}
}

func hexOf(c interface{ RGBA() (r, g, b, a uint32) }) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("%02x%02x%02x", r>>8, g>>8, b>>8)
}

func equal(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}
