package ui

import (
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// filterSet is what the window is narrowed to: names per dimension, any of a dimension's names and all
// dimensions together (stats.Filter's rule). A table leaves out its own dimension, so more of its names
// can still be picked.
type filterSet map[stats.Dimension][]string

// toggle adds name to d's names, or removes it when it is there.
func (f filterSet) toggle(d stats.Dimension, name string) {
	if i := slices.Index(f[d], name); i >= 0 {
		f[d] = slices.Delete(slices.Clone(f[d]), i, i+1)
		return
	}
	f[d] = append(slices.Clone(f[d]), name)
}

func (f filterSet) has(d stats.Dimension, name string) bool { return slices.Contains(f[d], name) }

func (f filterSet) empty() bool {
	for _, v := range f {
		if len(v) > 0 {
			return false
		}
	}
	return true
}

// clone copies the set, so the worker reads one the UI thread no longer changes.
func (f filterSet) clone() filterSet {
	out := filterSet{}
	for d, v := range f {
		if len(v) > 0 {
			out[d] = slices.Clone(v)
		}
	}
	return out
}

// stats is the store's filter, leaving out dimension except (0 leaves out none).
func (f filterSet) stats(except stats.Dimension) stats.Filter {
	var out stats.Filter
	for d, v := range f {
		if d != except && len(v) > 0 {
			out.Set(d, v)
		}
	}
	return out
}

// chipBar shows the filters as chips, each with a button that removes it, and a button that removes
// them all. It hides itself when there is no filter.
type chipBar struct {
	chips *fyne.Container
	obj   *fyne.Container
}

func newChipBar(clearAll func()) *chipBar {
	c := &chipBar{chips: container.NewHBox()}
	label := widget.NewLabel(lang.L("Filters"))
	label.Importance = widget.MediumImportance
	clear := widget.NewButton(lang.L("Clear filters"), clearAll)
	clear.Importance = widget.LowImportance
	c.obj = container.NewBorder(nil, nil, label, clear, container.NewHScroll(c.chips))
	c.obj.Hide()
	return c
}

// set shows the chips of f; remove is called with the chip's dimension and name.
func (c *chipBar) set(f filterSet, remove func(stats.Dimension, string)) {
	var objs []fyne.CanvasObject
	for _, d := range dims {
		for _, name := range f[d] {
			objs = append(objs, newChip(d, name, func() { remove(d, name) }))
		}
	}
	c.chips.Objects = objs
	c.chips.Refresh()
	if len(objs) == 0 {
		c.obj.Hide()
	} else {
		c.obj.Show()
	}
}

// chip is one filter: "Model  gemini-2.5-pro  ✕" on a rounded outline. The name is regular text (the
// bold cut of the font has only the translations' characters).
type chip struct {
	widget.BaseWidget
	dim    stats.Dimension
	name   string
	remove *widget.Button
	obj    fyne.CanvasObject
}

func newChip(d stats.Dimension, name string, remove func()) *chip {
	c := &chip{dim: d, name: name}
	kind := widget.NewLabel(lang.L(dimTitle[d]))
	kind.SizeName = theme.SizeNameCaptionText
	label := widget.NewLabel(elide(shownName(name), 48))
	c.remove = widget.NewButtonWithIcon("", theme.CancelIcon(), remove)
	c.remove.Importance = widget.LowImportance
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.StrokeColor = theme.Color(theme.ColorNamePrimary)
	bg.StrokeWidth = 1
	bg.CornerRadius = theme.InputRadiusSize() * 2
	row := container.NewHBox(container.NewCenter(kind), label, c.remove)
	c.obj = container.NewStack(bg, row)
	c.ExtendBaseWidget(c)
	return c
}

// elide shortens s to at most n runes, ending in "…" when cut; the chip's tooltip-free text stays short.
func elide(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (c *chip) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(c.obj) }

// chipsShown are the chips on screen, as "dimension:name" (for tests).
func (c *chipBar) shown() []string {
	if !c.obj.Visible() {
		return nil
	}
	var out []string
	for _, o := range c.chips.Objects {
		ch := o.(*chip)
		out = append(out, ch.dim.String()+":"+ch.name)
	}
	return out
}
