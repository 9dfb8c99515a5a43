package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// cardData is what the cards show: the window's summary and, when the app can price them, what cached
// tokens saved.
type cardData struct {
	stats.Summary
	saved    stats.Money
	hasSaved bool
}

// card is one summary card: a caption, a value whose tooltip is the exact value and what it includes,
// and a note under it.
type card struct {
	caption string                                     // untranslated key
	show    func(d cardData) (value, tip, note string) // translated texts
	text    *hoverText
	note    *widget.Label
}

// cards are the summary cards.
type cards struct {
	all []*card
	box *fyne.Container
}

func newCards(tips *tipLayer) *cards {
	count := func(n int64) (string, string) { return Short(n), Exact(n) }
	c := &cards{all: []*card{
		{caption: "Total tokens", show: func(d cardData) (string, string, string) {
			v, tip := count(d.TotalTokens())
			return v, tip + "\n" + lang.L("input + output"), ""
		}},
		{caption: "Input tokens", show: func(d cardData) (string, string, string) {
			v, tip := count(d.InputTokens)
			return v, tip + "\n" + lang.L("includes {{.Cached}} cached and {{.Creation}} cache-creation tokens",
				map[string]any{"Cached": Exact(d.CachedTokens), "Creation": Exact(d.CacheCreationTokens)}), ""
		}},
		{caption: "Output tokens", show: func(d cardData) (string, string, string) {
			v, tip := count(d.OutputTokens)
			return v, tip + "\n" + lang.L("includes {{.Reasoning}} reasoning tokens",
				map[string]any{"Reasoning": Exact(d.ReasoningTokens)}), ""
		}},
		{caption: "Cached tokens", show: func(d cardData) (string, string, string) {
			v, tip := count(d.CachedTokens)
			var note string
			if d.InputTokens > 0 {
				note = lang.L("{{.Rate}} hit rate", map[string]any{"Rate": percent(d.CachedTokens, d.InputTokens)})
				tip += "\n" + lang.L("hit rate = cached ÷ input")
			}
			if d.hasSaved {
				if note != "" {
					note += "\n"
				}
				note += lang.L("saved {{.Amount}}", map[string]any{"Amount": MoneyShort(d.saved)})
				tip += "\n" + lang.L("saved {{.Amount}}", map[string]any{"Amount": d.saved.String()})
			}
			return v, tip, note
		}},
		{caption: "Requests", show: func(d cardData) (string, string, string) {
			return Exact(d.Requests), Exact(d.Requests), ""
		}},
		{caption: "Estimated cost", show: func(d cardData) (string, string, string) {
			text, tip := costText(d.Totals)
			var note string
			if d.Unpriced > 0 {
				note = Plural(d.Unpriced, "1 request unpriced", "{{.Count}} requests unpriced")
			}
			return text, tip, note
		}},
		{caption: "Active accounts", show: func(d cardData) (string, string, string) {
			return Exact(int64(d.Accounts)), Exact(int64(d.Accounts)), ""
		}},
		{caption: "Models used", show: func(d cardData) (string, string, string) {
			return Exact(int64(d.Models)), Exact(int64(d.Models)), ""
		}},
	}}
	objs := make([]fyne.CanvasObject, len(c.all))
	for i, cd := range c.all {
		cd.text = newHoverText(tips, "–", "")
		cd.text.label.SizeName = theme.SizeNameHeadingText
		cd.text.label.TextStyle.Bold = true
		cd.note = widget.NewLabel("")
		cd.note.SizeName = theme.SizeNameCaptionText
		objs[i] = widget.NewCard("", lang.L(cd.caption), container.NewVBox(cd.text, cd.note))
	}
	c.box = container.NewGridWithColumns(len(objs), objs...)
	return c
}

// set shows a summary.
func (c *cards) set(d cardData) {
	for _, cd := range c.all {
		v, tip, note := cd.show(d)
		cd.text.Set(v, tip)
		cd.note.SetText(note)
	}
}

// byCaption is the card with a caption key (for tests).
func (c *cards) byCaption(caption string) *card {
	for _, cd := range c.all {
		if cd.caption == caption {
			return cd
		}
	}
	return nil
}
