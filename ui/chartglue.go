package ui

import (
	"image"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// renderTrend draws the trend at size (canvas units) times scale, so the image has one pixel per device
// pixel and stays sharp on HiDPI screens. It is the one place that knows the chart package.
func renderTrend(tr stats.Trend, size fyne.Size, scale float32, dark bool, noData string) (image.Image, error) {
	in := chart.FromTrend(tr)
	for i := range in.Series {
		if in.Series[i].Name == chart.OtherName {
			in.Series[i].Name = chartText(otherLabel(), chart.OtherName)
		}
	}
	return chart.PNG(in, chart.Options{Width: int(size.Width + 0.5), Height: int(size.Height + 0.5),
		Scale: scale, Dark: dark, NoDataText: chartText(noData, chart.DefaultNoDataText)})
}

// chartText keeps s when the chart's font can draw it (Latin scripts) and uses the English fallback
// otherwise: go-chart's embedded font has no CJK glyphs and would draw boxes.
func chartText(s, fallback string) string {
	for _, r := range s {
		if r > 0x24F && r != '…' && r != '—' && r != '·' {
			return fallback
		}
	}
	return s
}

// otherLabel names the series of everything outside the top ones. go-i18n reserves the key "other" (a
// plural form), so it is looked up under its own key.
func otherLabel() string { return lang.X("series.other", "other") }
