package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// card is one summary card: a caption and a shortened value whose tooltip is the exact value.
type card struct {
	caption string // untranslated key
	value   func(stats.Summary) int64
	text    *hoverText
}

// cards are the seven summary cards.
type cards struct {
	all []*card
	box *fyne.Container
}

func newCards(tips *tipLayer) *cards {
	c := &cards{all: []*card{
		{caption: "Total tokens", value: func(s stats.Summary) int64 { return s.TotalTokens() }},
		{caption: "Input tokens", value: func(s stats.Summary) int64 { return s.InputTokens }},
		{caption: "Output tokens", value: func(s stats.Summary) int64 { return s.OutputTokens }},
		{caption: "Cached tokens", value: func(s stats.Summary) int64 { return s.CachedTokens }},
		{caption: "Requests", value: func(s stats.Summary) int64 { return s.Requests }},
		{caption: "Active accounts", value: func(s stats.Summary) int64 { return int64(s.Accounts) }},
		{caption: "Models used", value: func(s stats.Summary) int64 { return int64(s.Models) }},
	}}
	objs := make([]fyne.CanvasObject, len(c.all))
	for i, cd := range c.all {
		cd.text = newHoverText(tips, "–", "")
		cd.text.label.SizeName = theme.SizeNameHeadingText
		cd.text.label.TextStyle.Bold = true
		objs[i] = widget.NewCard("", lang.L(cd.caption), cd.text)
	}
	c.box = container.NewGridWithColumns(len(objs), objs...)
	return c
}

// set shows a summary.
func (c *cards) set(s stats.Summary) {
	for _, cd := range c.all {
		v := cd.value(s)
		cd.text.Set(Short(v), Exact(v))
	}
}
