package ui

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// renderTrend draws the trend at size (canvas units) times scale, so the image has one pixel per device
// pixel and stays sharp on HiDPI screens, with the window's font and words. It is the one place that
// knows the chart package's options.
func renderTrend(tr stats.Trend, end time.Time, size fyne.Size, scale float32, dark bool, font *chart.Font) (chartShot, error) {
	in := chart.FromTrend(tr, end, chart.Lang(languageTag()))
	for i := range in.Series {
		switch {
		case in.Series[i].Other:
			in.Series[i].Label = otherLabel()
		case in.Series[i].Name == "":
			in.Series[i].Label = lang.L("(none)")
		}
	}
	img, lay, err := chart.PNG(in, chart.Options{Width: int(size.Width + 0.5), Height: int(size.Height + 0.5),
		Scale: scale, Dark: dark, Font: font, NoDataText: lang.L("No data in this range"), PartialText: lang.L("in progress")})
	if err != nil {
		return chartShot{}, err
	}
	return chartShot{img: img, in: in, lay: lay, sw: chart.Swatches(in.Series)}, nil
}

// otherLabel names the series of everything outside the top ones. go-i18n reserves the key "other" (a
// plural form), so it is looked up under its own key.
func otherLabel() string { return lang.X("series.other", "other") }
