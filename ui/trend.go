package ui

import (
	"image"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// trendPanel is the chart with its model/account toggle. The image is rendered off the UI thread by the
// dashboard's worker, at the panel's size times the canvas scale, and again after a resize.
type trendPanel struct {
	toggle *widget.RadioGroup
	img    *chartImage
	obj    fyne.CanvasObject
}

func newTrendPanel(onDim func(stats.Dimension), onResize func(fyne.Size, float32)) *trendPanel {
	p := &trendPanel{}
	byModel, byAccount := lang.L("By model"), lang.L("By account")
	p.toggle = widget.NewRadioGroup([]string{byModel, byAccount}, func(s string) {
		if s == byAccount {
			onDim(stats.ByAccount)
		} else {
			onDim(stats.ByModel)
		}
	})
	p.toggle.Horizontal = true
	p.toggle.Required = true
	p.toggle.Selected = byModel
	p.img = newChartImage(onResize)
	title := widget.NewLabel(lang.L("Tokens over time"))
	title.TextStyle.Bold = true
	p.obj = container.NewBorder(container.NewHBox(title, p.toggle), nil, nil, nil, p.img)
	return p
}

// chartImage shows a rendered chart and reports its size and canvas scale whenever it is laid out.
type chartImage struct {
	widget.BaseWidget
	image    *canvas.Image
	onResize func(fyne.Size, float32)
	last     fyne.Size
	lastSc   float32
}

func newChartImage(onResize func(fyne.Size, float32)) *chartImage {
	c := &chartImage{image: canvas.NewImageFromImage(nil), onResize: onResize}
	c.image.FillMode = canvas.ImageFillContain
	c.image.ScaleMode = canvas.ImageScaleSmooth
	c.ExtendBaseWidget(c)
	return c
}

// set shows a rendered image.
func (c *chartImage) set(img image.Image) {
	c.image.Image = img
	c.image.Refresh()
}

func (c *chartImage) MinSize() fyne.Size {
	c.ExtendBaseWidget(c)
	return fyne.NewSize(320, 220)
}

func (c *chartImage) CreateRenderer() fyne.WidgetRenderer {
	return &chartRenderer{c: c}
}

type chartRenderer struct{ c *chartImage }

func (r *chartRenderer) Layout(s fyne.Size) {
	r.c.image.Resize(s)
	r.c.image.Move(fyne.NewPos(0, 0))
	sc := float32(1)
	if cv := fyne.CurrentApp().Driver().CanvasForObject(r.c); cv != nil {
		sc = cv.Scale()
	}
	if s.Width < 1 || s.Height < 1 || (s == r.c.last && sc == r.c.lastSc) {
		return
	}
	r.c.last, r.c.lastSc = s, sc
	r.c.onResize(s, sc)
}

func (r *chartRenderer) MinSize() fyne.Size           { return r.c.MinSize() }
func (r *chartRenderer) Refresh()                     { r.c.image.Refresh() }
func (r *chartRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.c.image} }
func (r *chartRenderer) Destroy()                     {}
