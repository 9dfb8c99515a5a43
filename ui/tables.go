package ui

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// breakdownTable is a table of one dimension (model, account, source or credential): sortable by a
// click on any header, narrowed by the box above it, a row click filters the whole window by that name,
// and an empty state takes its place when there is nothing to show.
type breakdownTable struct {
	dim     stats.Dimension
	rows    []tableRow              // as the store gave them, with shares
	view    []tableRow              // filtered and sorted: what the table shows
	paint   map[string]chart.Swatch // the top names as a chart of this dimension would paint them
	cols    []column                // the columns shown
	sortCol column
	desc    bool
	widths  map[column]float32

	picked  func(name string) bool         // the name is among the filter's
	onPick  func(name string)              // a row was clicked
	swatch  func(name string) chart.Swatch // the name's colour as the chart paints it
	filter  *widget.Entry
	table   *widget.Table
	empty   *widget.Label
	emptyBg fyne.CanvasObject
	obj     fyne.CanvasObject
}

func newBreakdownTable(d stats.Dimension, tips *tipLayer, cols []column, picked func(string) bool, onPick func(string),
	swatch func(string) chart.Swatch) *breakdownTable {
	b := &breakdownTable{dim: d, sortCol: colTotal, desc: true, cols: cols, picked: picked, onPick: onPick, swatch: swatch,
		widths: map[column]float32{}}
	b.filter = widget.NewEntry()
	b.filter.SetPlaceHolder(lang.L("Filter by name"))
	b.filter.OnChanged = func(string) { b.update() }

	b.table = widget.NewTable(
		func() (int, int) { return len(b.view), len(b.cols) },
		func() fyne.CanvasObject { return newTableCell(tips) },
		func(id widget.TableCellID, o fyne.CanvasObject) {
			c := o.(*tableCell)
			if id.Row < 0 || id.Row >= len(b.view) || id.Col >= len(b.cols) {
				c.set("", "", chart.Swatch{}, false)
				return
			}
			r, col := b.view[id.Row], b.cols[id.Col]
			text, tip := cell(r, col)
			if col != colName {
				c.set(text, tip, chart.Swatch{}, true)
				return
			}
			if b.picked(r.Name) {
				text = "✓ " + text
			}
			c.set(text, tip, b.swatch(r.Name), false)
		})
	b.table.ShowHeaderRow = true
	b.table.CreateHeader = func() fyne.CanvasObject { return newHeaderCell() }
	b.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		h := o.(*headerCell)
		if id.Col < 0 || id.Col >= len(b.cols) {
			return
		}
		c := b.cols[id.Col]
		h.set(b.title(c), b.note(c), c != colName, func() { b.sortBy(c) })
	}
	b.table.OnSelected = func(id widget.TableCellID) {
		b.table.UnselectAll()
		if id.Row >= 0 && id.Row < len(b.view) {
			b.onPick(b.view[id.Row].Name)
		}
	}
	b.table.StickyColumnCount = 1

	b.empty = widget.NewLabel(lang.L("No data in this range"))
	b.empty.Alignment = fyne.TextAlignCenter
	// The message takes the table's place (the table is hidden): drawn over it, the column dividers
	// would run through it.
	b.emptyBg = container.NewCenter(b.empty)
	b.obj = container.NewBorder(b.filter, nil, nil, nil,
		container.New(&nameFillsTable{b: b}, b.table, b.emptyBg))
	b.update()
	return b
}

// title is a column's title: the dimension for the name column.
func (b *breakdownTable) title(c column) string {
	if c == colName {
		return lang.L(dimTitle[b.dim])
	}
	return lang.L(columnInfo[c].title)
}

// note is a header's second line: what the column includes, and the sort arrow on the sorted column
// (there, not after the title, so sorting never changes a column's width).
func (b *breakdownTable) note(c column) string {
	n := translate(columnInfo[c].note)
	if c != b.sortCol {
		return n
	}
	arrow := "▲"
	if b.desc {
		arrow = "▼"
	}
	if n == "" {
		return arrow
	}
	return n + " " + arrow
}

// headerText is a column's header as "title|note" (for tests).
func (b *breakdownTable) headerText(c column) string { return b.title(c) + "|" + b.note(c) }

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
	b.paint = chartSwatches(rows)
	b.update()
}

// chartSwatches are the swatches a chart of these rows would give its named series: the top chart.Top
// by tokens, so a table shows the patterns of the colours its names share even while the chart shows
// another dimension.
func chartSwatches(rows []stats.Row) map[string]chart.Swatch {
	top := slices.Clone(rows)
	slices.SortStableFunc(top, func(a, b stats.Row) int {
		if c := cmp.Compare(b.TotalTokens(), a.TotalTokens()); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var series []chart.Series
	for _, r := range top {
		if r.TotalTokens() > 0 && len(series) < chart.Top {
			series = append(series, chart.Series{Name: r.Name})
		}
	}
	out := map[string]chart.Swatch{}
	for i, sw := range chart.Swatches(series) {
		out[series[i].Name] = sw
	}
	return out
}

// setColumns shows another set of columns.
func (b *breakdownTable) setColumns(cols []column) {
	b.cols = cols
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
	case len(v) == 0:
		b.empty.SetText(lang.L("No names match the filter"))
	}
	if len(v) == 0 {
		b.table.Hide()
		b.emptyBg.Show()
	} else {
		b.emptyBg.Hide()
		b.table.Show()
	}
	b.measure()
	b.table.Refresh()
}

// measure sizes each number column to its header and its longest value, so the name column keeps the
// rest of the width.
func (b *breakdownTable) measure() {
	pad := 2 * theme.InnerPadding()
	bold := fyne.TextStyle{Bold: true}
	for i, c := range b.cols {
		if c == colName {
			continue
		}
		w := fyne.MeasureText(b.title(c), theme.TextSize(), bold).Width
		note := strings.TrimSpace(translate(columnInfo[c].note) + " ▼") // room for the arrow, sorted or not
		w = max(w, fyne.MeasureText(note, theme.CaptionTextSize(), fyne.TextStyle{}).Width)
		longest := ""
		for _, r := range b.view {
			if t, _ := cell(r, c); utf8.RuneCountInString(t) > utf8.RuneCountInString(longest) {
				longest = t
			}
		}
		w = max(w, fyne.MeasureText(longest, theme.TextSize(), fyne.TextStyle{}).Width)
		if w+pad != b.widths[c] {
			b.widths[c] = w + pad
			b.table.SetColumnWidth(i, w+pad)
		}
	}
	b.table.SetColumnWidth(0, b.nameWidth(b.table.Size().Width))
}

// numbersWidth is the width the number columns take, dividers and the scroll bar included.
func (b *breakdownTable) numbersWidth() float32 {
	w := theme.ScrollBarSize()
	for _, c := range b.cols {
		if c != colName {
			w += b.widths[c] + theme.Padding()
		}
	}
	return w + theme.Padding()
}

// minNameWidth is the least the name column gets; past it the table scrolls sideways.
const minNameWidth float32 = 140

func (b *breakdownTable) nameWidth(total float32) float32 {
	return max(minNameWidth, total-b.numbersWidth())
}

// names are the names the table shows, in order (for tests).
func (b *breakdownTable) names() []string {
	out := make([]string, len(b.view))
	for i, r := range b.view {
		out[i] = r.Name
	}
	return out
}

// nameFillsTable stacks its objects and gives the name column whatever width the number columns leave,
// so the table fits its pane without a horizontal scroll bar when it can.
type nameFillsTable struct {
	b    *breakdownTable
	last float32
}

func (l *nameFillsTable) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	if w := l.b.nameWidth(size.Width); w != l.last {
		l.last = w
		l.b.table.SetColumnWidth(0, w)
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

// tableCell is one cell: a colour dot (name column) and a text with a tooltip.
type tableCell struct {
	widget.BaseWidget
	dot  *dot
	text *hoverText
}

func newTableCell(tips *tipLayer) *tableCell {
	c := &tableCell{dot: newDot(), text: newHoverText(tips, "", "")}
	c.ExtendBaseWidget(c)
	return c
}

// set shows a text (right-aligned for numbers) and a dot (none for a zero swatch).
func (c *tableCell) set(text, tip string, sw chart.Swatch, number bool) {
	want, align := fyne.TextTruncateEllipsis, fyne.TextAlignLeading
	if number {
		want, align = fyne.TextTruncateOff, fyne.TextAlignTrailing
	}
	if c.text.label.Truncation != want || c.text.label.Alignment != align {
		c.text.label.Truncation, c.text.label.Alignment = want, align
		c.text.label.Refresh()
	}
	c.text.Set(text, tip)
	if sw.Color == "" {
		c.dot.Hide()
	} else {
		c.dot.set(sw)
		c.dot.Show()
	}
	c.Refresh()
}

func (c *tableCell) CreateRenderer() fyne.WidgetRenderer {
	return &cellRenderer{c: c}
}

type cellRenderer struct{ c *tableCell }

func (r *cellRenderer) Layout(s fyne.Size) {
	x := float32(0)
	if r.c.dot.Visible() { // the dot sits in the label's left padding, the text just after it
		pad := theme.InnerPadding()
		r.c.dot.Resize(fyne.NewSize(dotSize, dotSize))
		r.c.dot.Move(fyne.NewPos(pad/2, (s.Height-dotSize)/2))
		x = pad/2 + dotSize + 2 - pad
	}
	r.c.text.Resize(fyne.NewSize(s.Width-x, s.Height))
	r.c.text.Move(fyne.NewPos(x, 0))
}

func (r *cellRenderer) MinSize() fyne.Size {
	m := r.c.text.MinSize()
	return fyne.NewSize(m.Width+dotSize, m.Height)
}

func (r *cellRenderer) Refresh() { r.Layout(r.c.Size()) }
func (r *cellRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.c.dot.Raster, r.c.text}
}
func (r *cellRenderer) Destroy() {}

// headerCell is a column header: a bold title with an optional small second line ("incl. cached"), a
// click sorts by the column.
type headerCell struct {
	widget.BaseWidget
	title, note *widget.Label
	onTap       func()
}

var (
	_ fyne.Tappable      = (*headerCell)(nil)
	_ desktop.Cursorable = (*headerCell)(nil)
)

func newHeaderCell() *headerCell {
	h := &headerCell{title: widget.NewLabel(""), note: widget.NewLabel("")}
	h.title.TextStyle.Bold = true
	h.note.SizeName = theme.SizeNameCaptionText
	h.ExtendBaseWidget(h)
	return h
}

func (h *headerCell) set(title, note string, number bool, onTap func()) {
	align := fyne.TextAlignLeading
	if number {
		align = fyne.TextAlignTrailing
	}
	h.title.Alignment, h.note.Alignment = align, align
	h.title.Text, h.note.Text = title, note
	h.onTap = onTap
	h.Refresh()
}

func (h *headerCell) Tapped(*fyne.PointEvent) {
	if h.onTap != nil {
		h.onTap()
	}
}

func (h *headerCell) Cursor() desktop.Cursor { return desktop.PointerCursor }

func (h *headerCell) CreateRenderer() fyne.WidgetRenderer {
	return &headerRenderer{h: h}
}

type headerRenderer struct{ h *headerCell }

// Two lines in the height of one label: the title moves up into its top padding and the note sits
// below it in the bottom padding. A table makes every row as tall as its header, so the header must
// not be taller than a cell.
func (r *headerRenderer) Layout(s fyne.Size) {
	pad := theme.InnerPadding()
	t, n := r.h.title.MinSize(), r.h.note.MinSize()
	r.h.title.Resize(fyne.NewSize(s.Width, t.Height))
	r.h.note.Resize(fyne.NewSize(s.Width, n.Height))
	if r.h.note.Text == "" {
		r.h.title.Move(fyne.NewPos(0, (s.Height-t.Height)/2))
		return
	}
	r.h.title.Move(fyne.NewPos(0, -pad))
	r.h.note.Move(fyne.NewPos(0, s.Height-n.Height+pad-1))
}

func (r *headerRenderer) MinSize() fyne.Size {
	t, n := r.h.title.MinSize(), r.h.note.MinSize()
	return fyne.NewSize(max(t.Width, n.Width), t.Height)
}

func (r *headerRenderer) Refresh() {
	r.Layout(r.h.Size())
	r.h.title.Refresh()
	r.h.note.Refresh()
}
func (r *headerRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.h.title, r.h.note}
}
func (r *headerRenderer) Destroy() {}
