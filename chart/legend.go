package chart

import (
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
	color  gochart.Style
}

func layoutLegend(in Input, l layout, text gochart.Style) legend {
	width := textWidth(l, text)
	swatch, gap, spacing, rowH := l.px(10), l.px(5), l.px(16), l.px(18)
	left, right := l.px(12), l.w-l.px(12)
	var items []legendItem
	x, row := left, 0
	for k, s := range in.Series {
		name := elide(s.Name, maxLegendRunes)
		w := swatch + gap + width(name)
		if x > left && x+w > right {
			x, row = left, row+1
		}
		col := SeriesColor(in, k)
		items = append(items, legendItem{x: x, row: row, text: name, color: gochart.Style{FillColor: col, StrokeColor: col}})
		x += w + spacing
	}
	rows := row + 1
	height := rows*rowH + l.px(6)
	return legend{height: height, draw: func(r gochart.Renderer, _ gochart.Box, _ gochart.Style) {
		top := l.h - height
		for _, it := range items {
			y := top + it.row*rowH
			gochart.Draw.Box(r, gochart.Box{Left: it.x, Top: y + (rowH-swatch)/2, Right: it.x + swatch,
				Bottom: y + (rowH-swatch)/2 + swatch}, it.color)
			r.ResetStyle()
			text.WriteTextOptionsToRenderer(r)
			tb := r.MeasureText(it.text)
			r.Text(it.text, it.x+swatch+gap, y+(rowH+tb.Height())/2-l.px(1))
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
