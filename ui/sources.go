package ui

import (
	"context"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// sourceColumns are the Sources table's columns, in order.
var sourceColumns = [...]string{"Source", "Kind", "Requests today", "Tokens today", "Last record", "First record", "Last error"}

const (
	srcName = iota
	srcKind
	srcRequests
	srcTokens
	srcLast
	srcFirst
	srcError
)

// sourcesView is the Sources tab: every proxy, pass-through or agent that ever reported (or tried to),
// how, when it last did, what it sent today and the last thing that went wrong, so a user who just set
// one variable sees it work. The dashboard's worker reads it with every refresh (so after every commit,
// within minRefreshGap) and applies it on the UI thread.
type sourcesView struct {
	st    *stats.Store
	now   func() time.Time
	list  []stats.Source
	table *widget.Table
	empty *widget.Label
	obj   fyne.CanvasObject
	tabs  *container.AppTabs // the window's tabs, Sources being the second
}

func newSourcesView(st *stats.Store, tips *tipLayer, now func() time.Time) *sourcesView {
	v := &sourcesView{st: st, now: now}
	v.table = widget.NewTable(
		func() (int, int) { return len(v.list), len(sourceColumns) },
		func() fyne.CanvasObject { return newHoverText(tips, "", "") },
		func(id widget.TableCellID, o fyne.CanvasObject) {
			h := o.(*hoverText)
			if id.Row >= len(v.list) {
				h.Set("", "")
				return
			}
			h.label.Truncation = fyne.TextTruncateEllipsis
			h.Set(v.cell(v.list[id.Row], id.Col))
		})
	v.table.ShowHeaderRow = true
	v.table.CreateHeader = func() fyne.CanvasObject { return widget.NewLabel("") }
	v.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		l := o.(*widget.Label)
		l.TextStyle.Bold = true
		l.SetText(lang.L(sourceColumns[id.Col]))
	}
	for c, w := range []float32{160, 90, 110, 100, 150, 150, 420} {
		v.table.SetColumnWidth(c, w)
	}
	v.table.StickyColumnCount = 1
	v.empty = widget.NewLabel(lang.L("No source has reported yet. Connect a tool and its first request shows here."))
	v.empty.Wrapping = fyne.TextWrapWord
	v.empty.Alignment = fyne.TextAlignCenter
	v.obj = container.NewStack(v.table, container.NewCenter(v.empty))
	return v
}

// cell is a column's text and tooltip for one source.
func (v *sourcesView) cell(s stats.Source, col int) (string, string) {
	switch col {
	case srcName:
		if s.Name == "" {
			return lang.L("(none)"), lang.L("Records that named no source")
		}
		return s.Name, s.Name
	case srcKind:
		return s.Kind, ""
	case srcRequests:
		return Short(s.Today.Requests), Exact(s.Today.Requests)
	case srcTokens:
		return Short(s.Today.TotalTokens()), Exact(s.Today.TotalTokens())
	case srcLast:
		return v.when(s.Last), ""
	case srcFirst:
		return v.when(s.First), ""
	case srcError:
		// The tooltip adds what the source's path wants known: its note, and the items it sent that
		// are not usage.
		var tip []string
		text := s.Note
		if s.Error != "" {
			text = v.when(s.ErrorAt) + " · " + s.Error
			tip = append(tip, text)
			if s.Note != "" {
				tip = append(tip, s.Note)
			}
		} else if s.Note != "" {
			tip = append(tip, s.Note)
		}
		if s.Ignored > 0 {
			tip = append(tip, lang.L("{{.Count}} items that are not usage were ignored", map[string]any{"Count": Exact(s.Ignored)}))
		}
		return text, strings.Join(tip, "\n")
	}
	return "", ""
}

// when writes a time as the clock on today's date, else with the date; "—" for never.
func (v *sourcesView) when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	loc := v.st.Location()
	if loc == nil {
		loc = time.Local
	}
	t, n := t.In(loc), v.now().In(loc)
	if t.YearDay() == n.YearDay() && t.Year() == n.Year() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// sourcesRead is what one refresh read, for apply.
type sourcesRead struct {
	list []stats.Source
	err  error
}

// read queries the sources with their totals since local midnight. Off the UI thread.
func (v *sourcesView) read(ctx context.Context, now time.Time) *sourcesRead {
	list, err := v.st.Sources(ctx, stats.Today(now, v.st.Location()))
	return &sourcesRead{list, err}
}

// apply shows what read found. UI thread only.
func (v *sourcesView) apply(r *sourcesRead) {
	if r.err != nil {
		fyne.LogError("read sources", r.err)
		return
	}
	v.list = r.list
	if len(r.list) == 0 {
		v.empty.Show()
	} else {
		v.empty.Hide()
	}
	v.table.Refresh()
}

// addSourcesSection puts the Sources view on a tab of its own, beside "Usage".
func (d *Dashboard) addSourcesSection() {
	d.sources = newSourcesView(d.deps.Store, d.tips, d.clock.Now)
	d.AddSection(lang.L("Sources"), d.sources.obj)
	d.sources.tabs = d.sections
}
