package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// breakdownTable is the by-model or by-account table: sortable by a click on any header, filtered by
// the box above it, with an empty state over it when there is nothing to show.
type breakdownTable struct {
	rows    []tableRow // as the store gave them, with shares
	view    []tableRow // filtered and sorted: what the table shows
	sortCol column
	desc    bool

	filter *widget.Entry
	table  *widget.Table
	empty  *widget.Label
	obj    fyne.CanvasObject
}

func newBreakdownTable(title string, tips *tipLayer) *breakdownTable {
	b := &breakdownTable{sortCol: colTotal, desc: true}
	b.filter = widget.NewEntry()
	b.filter.SetPlaceHolder(lang.L("Filter by name"))
	b.filter.OnChanged = func(string) { b.update() }

	b.table = widget.NewTable(
		func() (int, int) { return len(b.view), int(numColumns) },
		func() fyne.CanvasObject { return newHoverText(tips, "", "") },
		func(id widget.TableCellID, o fyne.CanvasObject) {
			h := o.(*hoverText)
			if id.Row < 0 || id.Row >= len(b.view) {
				h.Set("", "")
				return
			}
			c := column(id.Col)
			want := fyne.TextTruncateOff
			align := fyne.TextAlignTrailing
			if c == colName {
				want, align = fyne.TextTruncateEllipsis, fyne.TextAlignLeading
			}
			if h.label.Truncation != want || h.label.Alignment != align {
				h.label.Truncation, h.label.Alignment = want, align
				h.label.Refresh()
			}
			h.Set(cell(b.view[id.Row], c))
		})
	b.table.ShowHeaderRow = true
	b.table.CreateHeader = func() fyne.CanvasObject {
		btn := widget.NewButton("", nil)
		btn.Importance = widget.LowImportance
		return btn
	}
	b.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		btn := o.(*widget.Button)
		c := column(id.Col)
		btn.SetText(b.headerText(c))
		btn.OnTapped = func() { b.sortBy(c) }
	}
	b.table.SetColumnWidth(int(colName), minNameWidth)
	for c := colRequests; c < numColumns; c++ {
		b.table.SetColumnWidth(int(c), numberWidth)
	}
	b.table.StickyColumnCount = 1

	b.empty = widget.NewLabel(lang.L("No data in this range"))
	b.empty.Alignment = fyne.TextAlignCenter
	heading := widget.NewLabel(lang.L(title))
	heading.TextStyle.Bold = true
	top := container.NewBorder(nil, nil, heading, nil, b.filter)
	b.obj = container.NewBorder(top, nil, nil, nil, container.New(&nameFillsTable{t: b.table}, b.table, container.NewCenter(b.empty)))
	b.update()
	return b
}

// headerText is a column's title with an arrow on the sorted column.
func (b *breakdownTable) headerText(c column) string {
	t := lang.L(columnTitles[c])
	if c == b.sortCol {
		if b.desc {
			return t + " ▼"
		}
		return t + " ▲"
	}
	return t
}

// sortBy sorts by c; a second click on the same column reverses the order. Numbers start largest first,
// names A to Z.
func (b *breakdownTable) sortBy(c column) {
	if c == b.sortCol {
		b.desc = !b.desc
	} else {
		b.sortCol, b.desc = c, c != colName
	}
	b.update()
}

// setRows shows a new breakdown, keeping the sort and the filter.
func (b *breakdownTable) setRows(rows []stats.Row) {
	b.rows = withShares(rows)
	b.update()
}

func (b *breakdownTable) update() {
	v := filterRows(b.rows, b.filter.Text)
	if len(v) > 0 && &v[0] == &b.rows[0] {
		v = append([]tableRow(nil), v...) // never reorder the store's rows
	}
	sortRows(v, b.sortCol, b.desc)
	b.view = v
	switch {
	case len(b.rows) == 0:
		b.empty.SetText(lang.L("No data in this range"))
		b.empty.Show()
	case len(v) == 0:
		b.empty.SetText(lang.L("No names match the filter"))
		b.empty.Show()
	default:
		b.empty.Hide()
	}
	b.table.Refresh()
}

// names are the names the table shows, in order (for tests and the status line).
func (b *breakdownTable) names() []string {
	out := make([]string, len(b.view))
	for i, r := range b.view {
		out[i] = r.Name
	}
	return out
}

const (
	numberWidth  float32 = 72
	minNameWidth float32 = 140
)

// nameFillsTable stacks its objects and gives the name column whatever width the number columns leave,
// so the table fits its half of the window without a horizontal scroll bar when it can.
type nameFillsTable struct {
	t    *widget.Table
	last float32
}

func (l *nameFillsTable) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	// Each column also takes a padding's width for its divider; leave room for the vertical scroll bar.
	gap := theme.Padding()
	rest := float32(numColumns-1)*(numberWidth+gap) + gap + theme.ScrollBarSize()
	if w := max(minNameWidth, size.Width-rest); w != l.last {
		l.last = w
		l.t.SetColumnWidth(int(colName), w)
	}
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func (l *nameFillsTable) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var m fyne.Size
	for _, o := range objs {
		m = m.Max(o.MinSize())
	}
	return m
}
