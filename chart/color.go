package chart

import (
	"hash/fnv"
	"sort"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

// Colours belong to names, not to ranks: a name's colour is Palette[ColorIndex(name)] in every range,
// chart, window and tab, and across restarts, because it is computed from the name alone. With 16
// colours two names of one chart often share a colour (8 names: about 88 % of charts have one such pair);
// the collision rule keeps both the colour and the difference: among the series of one chart that share a
// colour, the one whose name sorts first (byte order) is solid, the next is striped "/", the next
// striped "\", the rest cross-hatched. So a name's colour never changes, and only its pattern depends on
// which other names the chart shows. "other" is always grey.

// Palette is readable on the light and the dark background and holds no grey (grey is "other").
var Palette = [...]string{
	"4e79a7", "f28e2b", "e15759", "76b7b2", "59a14f", "edc948", "b07aa1", "ff9da7",
	"9c755f", "332288", "88ccee", "117733", "882255", "aa4499", "999933", "b15928",
}

// OtherColor is the colour of the series of everything outside the top ones.
const OtherColor = "a5a5a5"

// Pattern is how a series is filled over its colour.
type Pattern int

const (
	Solid Pattern = iota
	Stripes
	BackStripes
	CrossHatch
)

// ColorIndex is the palette index of a name: FNV-1a (32 bits) of its UTF-8 bytes, modulo the palette's
// length. The browser tab's script has its twin, checked against this one in a test.
func ColorIndex(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(len(Palette)))
}

// Swatch is how one series is painted.
type Swatch struct {
	Color   string // hex, no '#'
	Pattern Pattern
}

// Swatches paints the series of one chart: each its name's colour, with the collision rule above;
// the series marked Other are grey and solid.
func Swatches(series []Series) []Swatch {
	out := make([]Swatch, len(series))
	byColor := map[int][]int{}
	for i, s := range series {
		if s.Other {
			out[i] = Swatch{Color: OtherColor}
			continue
		}
		c := ColorIndex(s.Name)
		out[i] = Swatch{Color: Palette[c]}
		byColor[c] = append(byColor[c], i)
	}
	for _, idx := range byColor {
		sort.Slice(idx, func(a, b int) bool { return series[idx[a]].Name < series[idx[b]].Name })
		for rank, i := range idx {
			out[i].Pattern = Pattern(min(rank, int(CrossHatch)))
		}
	}
	return out
}

func hex(s string) drawing.Color { return drawing.ColorFromHex(s) }

// mix blends c toward bg: f = 0 keeps c, 1 gives bg. The partial periods are drawn so, lighter on a
// light background and darker on a dark one, and look the same in PNG and SVG (no transparency).
func mix(c, bg drawing.Color, f float64) drawing.Color {
	m := func(a, b uint8) uint8 { return uint8(float64(a)*(1-f) + float64(b)*f + 0.5) }
	return drawing.Color{R: m(c.R, bg.R), G: m(c.G, bg.G), B: m(c.B, bg.B), A: 255}
}
