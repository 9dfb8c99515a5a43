package ui

import (
	"fyne.io/fyne/v2"

	"github.com/tokenstats/tokenstats/assets/fonts"
	"github.com/tokenstats/tokenstats/chart"
)

// fontTheme is the app's theme with the embedded Noto Sans SC as its text font, so Chinese (the
// language and any Chinese model or account name) renders on a machine without a CJK font. Monospace
// text (URLs, the token, commands) keeps the base theme's font; everything else is the base theme's.
type fontTheme struct {
	fyne.Theme
	regular, bold fyne.Resource
}

// useFonts wraps the app's theme in fontTheme once, and returns the same font for the charts.
func useFonts(a fyne.App) (*chart.Font, error) {
	reg, err := fonts.Regular()
	if err != nil {
		return nil, err
	}
	cf, err := chart.LoadFont(reg)
	if err != nil {
		return nil, err
	}
	if _, done := a.Settings().Theme().(*fontTheme); done {
		return cf, nil
	}
	bold, err := fonts.Bold()
	if err != nil {
		return nil, err
	}
	a.Settings().SetTheme(&fontTheme{Theme: a.Settings().Theme(),
		regular: fyne.NewStaticResource("NotoSansSC-Regular.ttf", reg),
		bold:    fyne.NewStaticResource("NotoSansSC-Bold.ttf", bold)})
	return cf, nil
}

func (t *fontTheme) Font(s fyne.TextStyle) fyne.Resource {
	switch {
	case s.Monospace, s.Symbol:
		return t.Theme.Font(s)
	case s.Bold:
		return t.bold
	}
	return t.regular
}

var _ fyne.Theme = (*fontTheme)(nil)
