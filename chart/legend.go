package chart

import (
	"math"

	gochart "github.com/wcharczuk/go-chart/v2"
)

// maxLegendRunes keeps one long name from taking a whole legend row; the tables show full names.
const maxLegendRunes = 32

// legend is drawn in a band below the x axis labels that the chart's padding reserves, so it never covers
// the plot.
type legend struct {
	height int
	draw   gochart.Renderable
}

type legendItem struct {
	x, row int
	text   string
	swatch Swatch
	fade   bool // the partial-period item: the grey of "other", faded as partial periods are
}

// layoutLegend places one item per series, then, when a period is partial, an item saying what the
// lighter bars are.
func layoutLegend(in Input, sw []Swatch, g geometry, text gochart.Style, partialText string) legend {
	width := textWidth(g, text)
	swatch, gap, spacing, rowH := g.px(10), g.px(5), g.px(16), g.px(18)
	left, right := g.px(12), g.w-g.px(12)
	var items []legendItem
	x, row := left, 0
	add := func(name string, s Swatch, fade bool) {
		name = elide(name, maxLegendRunes)
		w := swatch + gap + width(name)
		if x > left && x+w > right {
			x, row = left, row+1
		}
		items = append(items, legendItem{x: x, row: row, text: name, swatch: s, fade: fade})
		x += w + spacing
	}
	for k, s := range in.Series {
		add(s.Text(), sw[k], false)
	}
	for _, p := range in.Partial {
		if p {
			add(partialText, Swatch{Color: OtherColor}, true)
			break
		}
	}
	rows := row + 1
	height := rows*rowH + g.px(6)
	return legend{height: height, draw: func(r gochart.Renderer, _ gochart.Box, _ gochart.Style) {
		top := g.h - height
		for _, it := range items {
			y := top + it.row*rowH
			x0, y0 := it.x, y+(rowH-swatch)/2
			col := hex(it.swatch.Color)
			if it.fade {
				col = mix(col, g.th.background, partialFade)
			}
			gochart.Draw.Box(r, gochart.Box{Left: x0, Top: y0, Right: x0 + swatch, Bottom: y0 + swatch},
				gochart.Style{FillColor: col, StrokeColor: col})
			if it.swatch.Pattern != Solid {
				strokeSegments(r, hatch(x0, x0+swatch, y0, y0+swatch, it.swatch.Pattern, g.px(4)), g.th.background,
					math.Max(1, g.scale))
			}
			r.ResetStyle()
			text.WriteTextOptionsToRenderer(r)
			tb := r.MeasureText(it.text)
			r.Text(it.text, x0+swatch+gap, y+(rowH+tb.Height())/2-g.px(1))
		}
	}}
}

// elide shortens s to at most n runes, ending in "…" when cut.
func elide(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
