package chart

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenstats/tokenstats/stats"
)

const hostile = `<img src=x onerror=alert(1)>`

func sample() Input {
	return Input{Labels: []string{"13:00", "14:00", "15:00", "16:00"}, Series: []Series{
		{Name: "gemini-2.5-pro", Values: []float64{1200, 3400, 0, 5000}},
		{Name: "claude-sonnet", Values: []float64{500, 600, 700, 200}},
		{Name: hostile, Values: []float64{100, 100, 900, 100}},
	}}
}

// colorOf is the colour a name is drawn in.
func colorOf(name string) color.Color { return hex(Palette[ColorIndex(name)]) }

func same(c color.Color, want color.Color) bool {
	r1, g1, b1, _ := c.RGBA()
	r2, g2, b2, _ := want.RGBA()
	return r1>>8 == r2>>8 && g1>>8 == g2>>8 && b1>>8 == b2>>8
}

// rowsWith lists, top to bottom, the rows that hold at least one pixel of colour c.
func rowsWith(img image.Image, c color.Color) []int {
	var rows []int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if same(img.At(x, y), c) {
				rows = append(rows, y)
				break
			}
		}
	}
	return rows
}

func distinctColours(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	return len(seen)
}

func TestPNGSizeFollowsScale(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		w, h int
	}{
		{Options{Width: 400, Height: 200}, 400, 200},
		{Options{Width: 400, Height: 200, Scale: 2}, 800, 400},
		{Options{Width: 300, Height: 160, Scale: 1.5}, 450, 240},
		{Options{Width: 300, Height: 160, Scale: -1}, 300, 160},
	} {
		for name, in := range map[string]Input{"data": sample(), "empty": {}} {
			img, _, err := PNG(in, c.opt)
			if err != nil {
				t.Fatalf("%s %+v: %v", name, c.opt, err)
			}
			if got := img.Bounds().Size(); got.X != c.w || got.Y != c.h {
				t.Errorf("%s %+v: size %v, want %dx%d", name, c.opt, got, c.w, c.h)
			}
		}
	}
}

func TestPNGDrawsStackedSeriesAndSeparateLegend(t *testing.T) {
	in := sample()
	img, _, err := PNG(in, Options{Width: 500, Height: 260})
	if err != nil {
		t.Fatal(err)
	}
	bottom, middle := rowsWith(img, colorOf("gemini-2.5-pro")), rowsWith(img, colorOf("claude-sonnet"))
	if len(bottom) == 0 || len(middle) == 0 {
		t.Fatalf("series colours missing: %d rows of the first, %d of the second", len(bottom), len(middle))
	}
	// Stacked: the first series sits at the bottom of the plot, so its highest plot row is below the second's.
	if bottom[0] <= middle[0] {
		t.Errorf("first series starts at row %d, above the second series' row %d: not stacked", bottom[0], middle[0])
	}
	// The legend is a band of its own under the x axis and its labels: every row with the series colour is
	// either in the plot (above the axis line) or clearly below the axis labels.
	plotBottom := lastPlotRow(bottom)
	legendTop := -1
	for _, y := range bottom {
		if y > plotBottom {
			legendTop = y
			break
		}
	}
	if legendTop < 0 {
		t.Fatalf("no legend swatch under the plot (which ends at row %d)", plotBottom)
	}
	if legendTop < plotBottom+14 { // the x axis labels (10 px text and margins) come between
		t.Errorf("legend swatch at row %d, right under the plot's bottom row %d: no room for the axis labels", legendTop, plotBottom)
	}
	// The plot reaches the x axis: the bottom series fills down to y = 0.
	if last := lastPlotRow(bottom); last < img.Bounds().Dy()/2 {
		t.Errorf("bottom series ends at row %d, not near the axis", last)
	}
}

func lastPlotRow(rows []int) int {
	for i := 1; i < len(rows); i++ {
		if rows[i] > rows[i-1]+3 {
			return rows[i-1]
		}
	}
	return rows[len(rows)-1]
}

func TestNoDataImageIsNotBlank(t *testing.T) {
	for name, in := range map[string]Input{
		"empty":     {},
		"no series": {Labels: []string{"13:00", "14:00"}},
		"all zero":  {Labels: []string{"13:00", "14:00"}, Series: []Series{{Name: "a", Values: []float64{0, 0}}, {Name: "b"}}},
		"no labels": {Series: []Series{{Name: "a", Values: []float64{5}}}},
	} {
		for _, dark := range []bool{false, true} {
			img, _, err := PNG(in, Options{Width: 300, Height: 150, Dark: dark})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if n := distinctColours(img); n < 3 {
				t.Errorf("%s dark=%v: only %d colours, the image is blank", name, dark, n)
			}
			for _, c := range Palette {
				if rows := rowsWith(img, hex(c)); len(rows) > 0 {
					t.Errorf("%s: series colour %s drawn on a no-data image", name, c)
				}
			}
		}
		var buf bytes.Buffer
		if _, err := SVG(&buf, in, Options{Width: 300, Height: 150}); err != nil {
			t.Fatal(err)
		}
		if texts := svgTexts(t, buf.Bytes()); !contains(texts, DefaultNoDataText) {
			t.Errorf("%s: SVG texts %q lack %q", name, texts, DefaultNoDataText)
		}
	}
	var buf bytes.Buffer
	if _, err := SVG(&buf, Input{}, Options{NoDataText: "Nothing <yet> & more"}); err != nil {
		t.Fatal(err)
	}
	if texts := svgTexts(t, buf.Bytes()); !contains(texts, "Nothing <yet> & more") {
		t.Errorf("custom no-data text missing from %q", texts)
	}
}

func TestSinglePointDrawsAChart(t *testing.T) {
	in := Input{Labels: []string{"Jan 02"}, Series: []Series{{Name: "only", Values: []float64{1234}}}}
	img, _, err := PNG(in, Options{Width: 300, Height: 200, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsWith(img, colorOf("only"))
	if len(rows) < 100 { // the plot area is ~150 rows at this size, plus the legend swatch
		t.Errorf("a single period fills only %d rows", len(rows))
	}
	var buf bytes.Buffer
	if _, err := SVG(&buf, in, Options{Width: 300, Height: 200}); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, buf.Bytes())
	for _, want := range []string{"Jan 02", "only", "0"} {
		if !contains(texts, want) {
			t.Errorf("SVG texts %q lack %q", texts, want)
		}
	}
}

func TestDarkThemeBackground(t *testing.T) {
	for _, dark := range []bool{false, true} {
		img, _, err := PNG(sample(), Options{Width: 200, Height: 120, Dark: dark})
		if err != nil {
			t.Fatal(err)
		}
		r, g, b, _ := img.At(1, 1).RGBA()
		luma := (299*r + 587*g + 114*b) / 1000 >> 8
		if dark && luma > 80 || !dark && luma < 200 {
			t.Errorf("dark=%v: background luma %d", dark, luma)
		}
	}
}

// svgTexts parses the document as XML (failing on malformed markup) and returns the character data of
// every <text> element.
func svgTexts(t *testing.T, doc []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var texts []string
	inText, elements := false, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			elements++
			if v.Name.Local == "img" || v.Name.Local == "script" {
				t.Fatalf("SVG contains a <%s> element", v.Name.Local)
			}
			if v.Name.Local == "text" {
				inText = true
				texts = append(texts, "")
			}
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(v)
			}
		}
	}
	if elements == 0 {
		t.Fatal("SVG has no elements")
	}
	return texts
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSVGEscapesNamesAndIsWellFormed(t *testing.T) {
	in := sample()
	in.Series = append(in.Series, Series{Name: "a&b \"q\" 'x' \x01", Values: []float64{1, 2, 3, 4}})
	var buf bytes.Buffer
	if _, err := SVG(&buf, in, Options{Width: 600, Height: 260, Dark: true}); err != nil {
		t.Fatal(err)
	}
	doc := buf.Bytes()
	if bytes.Contains(doc, []byte("<img")) {
		t.Fatalf("raw markup from a series name in the SVG:\n%s", doc)
	}
	if !bytes.Contains(doc, []byte("&lt;img src=x onerror=alert(1)&gt;")) {
		t.Errorf("escaped hostile name missing")
	}
	texts := svgTexts(t, doc)
	for _, want := range []string{"gemini-2.5-pro", "claude-sonnet", hostile, "a&b \"q\" 'x' \uFFFD", "0", "16:00"} {
		if !contains(texts, want) {
			t.Errorf("SVG texts %q lack %q", texts, want)
		}
	}
	if !bytes.HasPrefix(doc, []byte("<svg")) {
		t.Errorf("not an SVG document: %.40s", doc)
	}
}

func TestYAxisStartsAtZeroAndIsShort(t *testing.T) {
	in := Input{Labels: []string{"a", "b"}, Series: []Series{{Name: "m", Values: []float64{2_500_000, 1_000_000}}}}
	var buf bytes.Buffer
	if _, err := SVG(&buf, in, Options{Width: 400, Height: 200}); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, buf.Bytes())
	for _, want := range []string{"0", "1M", "2M", "3M"} {
		if !contains(texts, want) {
			t.Errorf("y axis labels %q lack %q", texts, want)
		}
	}
}

func TestXLabelsThinOutButKeepNewest(t *testing.T) {
	n := 720
	in := Input{Series: []Series{{Name: "m", Values: make([]float64, n)}}}
	for i := 0; i < n; i++ {
		in.Labels = append(in.Labels, fmt.Sprintf("L%03d", i))
		in.Series[0].Values[i] = float64(i%7 + 1)
	}
	var buf bytes.Buffer
	if _, err := SVG(&buf, in, Options{Width: 375, Height: 200}); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, buf.Bytes())
	labels := 0
	for _, s := range texts {
		if strings.HasPrefix(s, "L") {
			labels++
		}
	}
	if labels < 2 || labels > 10 {
		t.Errorf("%d x labels on a 375 px chart", labels)
	}
	if !contains(texts, "L719") {
		t.Errorf("newest period's label missing")
	}
}

func trendOf(periods ...map[string]int64) stats.Trend {
	tr := stats.Trend{Granularity: stats.Hourly, Dimension: stats.ByModel}
	start := time.Date(2026, 1, 22, 22, 0, 0, 0, time.UTC)
	for i, v := range periods {
		st := start.Add(time.Duration(i) * time.Hour)
		tr.Periods = append(tr.Periods, stats.Period{Label: st.Format("2006-01-02 15:04"), Start: st, Values: v})
	}
	return tr
}

func TestFromTrendTopNPlusOther(t *testing.T) {
	var periods []map[string]int64
	for p := 0; p < 4; p++ {
		m := map[string]int64{}
		for k := 0; k < 12; k++ {
			if (k+p)%3 != 0 {
				m[fmt.Sprintf("model-%02d", k)] = int64((k + 1) * (p + 2) * 100)
			}
		}
		periods = append(periods, m)
	}
	periods = append(periods, map[string]int64{}) // an empty hour
	tr := trendOf(periods...)
	in := fromTrend(tr, time.Time{}, "en", 8)
	if len(in.Series) != 9 || in.Series[8].Name != OtherName || !in.Series[8].Other {
		t.Fatalf("series %v: want 8 named + %q", names(in), OtherName)
	}
	if want := []string{"22:00", "23:00", "Jan 23", "01:00", "02:00"}; strings.Join(in.Labels, ",") != strings.Join(want, ",") {
		t.Errorf("labels %q, want %q", in.Labels, want)
	}
	prev := -1.0
	for k, s := range in.Series[:8] {
		tot := sum(s.Values)
		if prev >= 0 && tot > prev {
			t.Errorf("series %d (%s) total %v above the previous %v: not largest first", k, s.Name, tot, prev)
		}
		prev = tot
	}
	for i, p := range tr.Periods {
		var want, got float64
		for _, v := range p.Values {
			want += float64(v)
		}
		for _, s := range in.Series {
			got += s.Values[i]
		}
		if got != want {
			t.Errorf("period %d: series sum %v, trend total %v", i, got, want)
		}
	}
	if all := fromTrend(tr, time.Time{}, "en", 0); len(all.Series) != 12 {
		t.Errorf("top 0 kept %d series, want all 12", len(all.Series))
	}
	if few := fromTrend(trendOf(map[string]int64{"a": 1, "b": 2}), time.Time{}, "en", 8); len(few.Series) != 2 || few.Series[0].Name != "b" {
		t.Errorf("two series: %v", names(few))
	}
}

func TestFromTrendRealStoreDaily(t *testing.T) {
	loc := time.FixedZone("UTC+8", 8*3600)
	st, _, err := stats.Open(filepath.Join(t.TempDir(), "s.db"), stats.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	var recs []stats.Record
	for d := 0; d < 5; d++ {
		for m := 0; m < 10; m++ {
			recs = append(recs, stats.Record{Time: now.Add(-time.Duration(d*24+1) * time.Hour), Account: "a@x",
				Model: fmt.Sprintf("m%d", m), InputTokens: int64(100 * (m + 1)), OutputTokens: int64(d + 1)})
		}
	}
	if _, err := st.Record(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	tr, err := st.Trend(context.Background(), stats.TrendQuery{Dimension: stats.ByModel, Granularity: stats.Daily, End: now, Hours: 7 * 24})
	if err != nil {
		t.Fatal(err)
	}
	in := fromTrend(tr, time.Time{}, "en", 8)
	if len(in.Labels) != len(tr.Periods) || len(in.Series) != 9 {
		t.Fatalf("%d labels for %d periods, %d series", len(in.Labels), len(tr.Periods), len(in.Series))
	}
	var want, got float64
	for _, r := range recs {
		want += float64(r.TotalTokens())
	}
	for _, s := range in.Series {
		got += sum(s.Values)
	}
	if got != want {
		t.Errorf("chart sums to %v, records to %v", got, want)
	}
	last := tr.Periods[len(tr.Periods)-1].Start
	if wantLabel := last.In(loc).Format("Jan 02"); in.Labels[len(in.Labels)-1] != wantLabel {
		t.Errorf("last label %q, want %q (store-local day)", in.Labels[len(in.Labels)-1], wantLabel)
	}
	if _, _, err := PNG(in, Options{Width: 320, Height: 200}); err != nil {
		t.Fatal(err)
	}
}

func names(in Input) []string {
	var out []string
	for _, s := range in.Series {
		out = append(out, s.Name)
	}
	return out
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}
