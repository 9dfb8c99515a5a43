package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// tipLayer draws tooltips above the window's content. Fyne 2.7 widgets have no tooltips, and a pop-up
// will not do: while an overlay is shown Fyne hit-tests only the overlay, so the label under the pointer
// would get MouseOut at once and the tip would flicker. The layer sits in the content itself, on top of
// everything, and is not hoverable, so the label keeps the pointer.
type tipLayer struct {
	bg      *canvas.Rectangle
	label   *widget.Label
	content *fyne.Container // the label, or rows built by showRows
	box     *fyne.Container
	layer   *fyne.Container
	owner   any
	text    string // what the tip says, for tests
}

func newTipLayer() *tipLayer {
	l := &tipLayer{bg: canvas.NewRectangle(nil), label: widget.NewLabel("")}
	l.bg.CornerRadius = 4
	l.bg.StrokeWidth = 1
	l.content = container.NewStack(l.label)
	l.box = container.NewStack(l.bg, l.content)
	l.box.Hide()
	l.layer = container.NewWithoutLayout(l.box)
	return l
}

// show places text below and right of the pointer (abs, in canvas coordinates), inside the layer.
func (l *tipLayer) show(owner any, text string, abs fyne.Position) {
	if len(l.content.Objects) != 1 || l.content.Objects[0] != l.label {
		l.content.Objects = []fyne.CanvasObject{l.label}
		l.content.Refresh()
	}
	l.label.SetText(text)
	l.place(owner, text, abs)
}

// showObject shows obj (rows with swatches) as the tip; text is what it says, for tests.
func (l *tipLayer) showObject(owner any, obj fyne.CanvasObject, text string, abs fyne.Position) {
	l.content.Objects = []fyne.CanvasObject{obj}
	l.content.Refresh()
	l.place(owner, text, abs)
}

func (l *tipLayer) place(owner any, text string, abs fyne.Position) {
	l.owner, l.text = owner, text
	l.bg.FillColor = theme.Color(theme.ColorNameOverlayBackground)
	l.bg.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	size := l.box.MinSize()
	origin := fyne.CurrentApp().Driver().AbsolutePositionForObject(l.layer)
	p := abs.Subtract(origin).Add(fyne.NewPos(12, 16))
	lim := l.layer.Size()
	if p.X+size.Width > lim.Width {
		p.X = max(lim.Width-size.Width, 0)
	}
	if p.Y+size.Height > lim.Height {
		p.Y = max(abs.Y-origin.Y-size.Height-4, 0)
	}
	l.box.Resize(size)
	l.box.Move(p)
	l.box.Show()
	l.bg.Refresh()
}

// hide hides the tip if owner is the one showing it.
func (l *tipLayer) hide(owner any) {
	if l.owner == owner {
		l.owner = nil
		l.box.Hide()
	}
}

// shown is the tooltip text on screen, "" when none is (for tests).
func (l *tipLayer) shown() string {
	if !l.box.Visible() {
		return ""
	}
	return l.text
}

// hoverText is a label that shows a tooltip while the pointer is over it: the cards use it for exact
// values, the tables for full names and exact numbers.
type hoverText struct {
	widget.BaseWidget
	label *widget.Label
	tip   string
	tips  *tipLayer
}

var _ desktop.Hoverable = (*hoverText)(nil)

func newHoverText(tips *tipLayer, text, tip string) *hoverText {
	h := &hoverText{label: widget.NewLabel(text), tip: tip, tips: tips}
	h.ExtendBaseWidget(h)
	return h
}

// Set changes the text and the tooltip.
func (h *hoverText) Set(text, tip string) {
	h.tip = tip
	if h.label.Text != text {
		h.label.SetText(text)
	}
	if h.tips.owner == h {
		h.tips.label.SetText(tip)
		h.tips.text = tip
	}
}

// Text is what the label shows.
func (h *hoverText) Text() string { return h.label.Text }

// Tip is what the tooltip shows.
func (h *hoverText) Tip() string { return h.tip }

func (h *hoverText) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(h.label)
}

func (h *hoverText) MouseIn(e *desktop.MouseEvent) {
	if h.tip != "" {
		h.tips.show(h, h.tip, e.AbsolutePosition)
	}
}

func (h *hoverText) MouseMoved(e *desktop.MouseEvent) {
	if h.tip != "" {
		h.tips.show(h, h.tip, e.AbsolutePosition)
	}
}

func (h *hoverText) MouseOut() { h.tips.hide(h) }
