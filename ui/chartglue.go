package ui

import (
	"image"

	"github.com/tokenstats/tokenstats/stats"
)

// renderTrend draws the trend chart at w×h pixels: the one place that knows the chart package, so the
// renderer can be swapped. topSeries is how many series are drawn before the rest become "other".
func renderTrend(tr stats.Trend, w, h int, dark bool, noData string) (image.Image, error) {
	// Placeholder until ui/chart lands on main: an empty image of the right size.
	return image.NewRGBA(image.Rect(0, 0, w, h)), nil
}

// topSeries is how many series the chart draws before the rest are summed as "other".
const topSeries = 8
