package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// hoverText is a label that shows a tooltip while the pointer is over it. Fyne 2.7 widgets have no
// tooltips, so this is the small stand-in: the cards use it for exact values, the tables for full names.
type hoverText struct {
	widget.BaseWidget
	label *widget.Label
	tip   string
	popup *widget.PopUp
}

var _ desktop.Hoverable = (*hoverText)(nil)

func newHoverText(text, tip string) *hoverText {
	h := &hoverText{label: widget.NewLabel(text), tip: tip}
	h.ExtendBaseWidget(h)
	return h
}

// Set changes the text and the tooltip.
func (h *hoverText) Set(text, tip string) {
	h.tip = tip
	if h.label.Text != text {
		h.label.SetText(text)
	}
	if h.popup != nil && h.popup.Visible() {
		h.popup.Content.(*widget.Label).SetText(tip)
	}
}

// Text is what the label shows.
func (h *hoverText) Text() string { return h.label.Text }

// Tip is what the tooltip shows.
func (h *hoverText) Tip() string { return h.tip }

func (h *hoverText) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(h.label)
}

// MouseIn shows the tooltip below and right of the pointer, far enough that it never sits under it
// (which would move the pointer "out" and make the tip flicker).
func (h *hoverText) MouseIn(e *desktop.MouseEvent) {
	if h.tip == "" {
		return
	}
	c := fyne.CurrentApp().Driver().CanvasForObject(h)
	if c == nil {
		return
	}
	if h.popup == nil {
		h.popup = widget.NewPopUp(widget.NewLabel(h.tip), c)
	} else {
		h.popup.Content.(*widget.Label).SetText(h.tip)
	}
	h.popup.ShowAtPosition(e.AbsolutePosition.Add(fyne.NewPos(14, 18)))
}

func (h *hoverText) MouseMoved(*desktop.MouseEvent) {}

func (h *hoverText) MouseOut() {
	if h.popup != nil {
		h.popup.Hide()
	}
}
