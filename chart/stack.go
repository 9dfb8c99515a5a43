package chart

import (
	"math"

	gochart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
)

// partialFade is how far a partial period's colour is blended toward the background.
const partialFade = 0.55

// stack is the stacked step areas as one go-chart series: go-chart draws the axes, grid and text, and
// hands this series the plot box and the ranges, so the areas line up with the ticks exactly. Every
// period is a step from x=i to x=i+1, so one period still spans a width and each bucket reads as a bar of
// its hour or day.
type stack struct {
	in       Input
	cum      [][]float64 // cumulative sums, bottom series first
	top      float64
	swatches []Swatch
	g        geometry
	box      gochart.Box // the plot, set when drawn
}

func newStack(in Input, g geometry) *stack {
	n := in.Periods()
	s := &stack{in: in, g: g, swatches: Swatches(in.Series), cum: make([][]float64, len(in.Series))}
	for k, ser := range in.Series {
		s.cum[k] = make([]float64, n)
		for i, v := range ser.Values {
			s.cum[k][i] = v
			if k > 0 {
				s.cum[k][i] += s.cum[k-1][i]
			}
			s.top = math.Max(s.top, s.cum[k][i])
		}
	}
	return s
}

func (s *stack) GetName() string             { return "" }
func (s *stack) GetYAxis() gochart.YAxisType { return gochart.YAxisPrimary }
func (s *stack) GetStyle() gochart.Style     { return gochart.Style{} }
func (s *stack) Validate() error             { return nil }

// Len and GetValues give go-chart the corners of the data for its ranges (the ticks decide them anyway).
func (s *stack) Len() int { return 2 }
func (s *stack) GetValues(i int) (float64, float64) {
	if i == 0 {
		return 0, 0
	}
	return float64(s.in.Periods()), s.top
}

func (s *stack) partial(i int) bool { return i < len(s.in.Partial) && s.in.Partial[i] }

func (s *stack) Render(r gochart.Renderer, box gochart.Box, xr, yr gochart.Range, _ gochart.Style) {
	s.box = box
	n := s.in.Periods()
	X := func(v float64) int { return box.Left + xr.Translate(v) }
	Y := func(v float64) int { return box.Bottom - yr.Translate(v) }
	bg := s.g.th.background
	// Top layer first, each from 0 up: the lower layers then paint over their part, so neighbouring
	// layers share no anti-aliased seam.
	for k := len(s.in.Series) - 1; k >= 0; k-- {
		col := hex(s.swatches[k].Color)
		cum := s.cum[k]
		// Whole periods as runs of one polygon; partial periods as lighter bars.
		for a := 0; a < n; {
			if s.partial(a) {
				s.bar(r, X(float64(a)), X(float64(a+1)), Y(cum[a]), Y(0), mix(col, bg, partialFade))
				a++
				continue
			}
			b := a
			for b < n && !s.partial(b) {
				b++
			}
			s.steps(r, cum[a:b], a, X, Y, col)
			a = b
		}
	}
	for k, sw := range s.swatches {
		if sw.Pattern == Solid {
			continue
		}
		var segs [][4]int
		for i := 0; i < n; i++ {
			lo := 0.0
			if k > 0 {
				lo = s.cum[k-1][i]
			}
			if s.cum[k][i] > lo {
				segs = append(segs, hatch(X(float64(i)), X(float64(i+1)), Y(s.cum[k][i]), Y(lo), sw.Pattern, s.g.px(5))...)
			}
		}
		strokeSegments(r, segs, bg, math.Max(1, 1.25*s.g.scale))
	}
}

// steps fills the area under a run of periods starting at period first, from 0 to the values.
func (s *stack) steps(r gochart.Renderer, vals []float64, first int, X func(float64) int, Y func(float64) int, col drawing.Color) {
	r.SetFillColor(col)
	r.SetStrokeColor(col)
	r.SetStrokeWidth(math.Max(1, s.g.scale))
	x0 := X(float64(first))
	r.MoveTo(x0, Y(0))
	r.LineTo(x0, Y(vals[0]))
	for j := range vals {
		if j > 0 && vals[j] != vals[j-1] { // equal neighbours share one segment: long empty ranges stay small
			x := X(float64(first + j))
			r.LineTo(x, Y(vals[j-1]))
			r.LineTo(x, Y(vals[j]))
		}
	}
	end := X(float64(first + len(vals)))
	r.LineTo(end, Y(vals[len(vals)-1]))
	r.LineTo(end, Y(0))
	r.Close()
	r.FillStroke()
}

func (s *stack) bar(r gochart.Renderer, x0, x1, yTop, yBottom int, col drawing.Color) {
	if yTop >= yBottom {
		return
	}
	r.SetFillColor(col)
	r.SetStrokeColor(col)
	r.SetStrokeWidth(math.Max(1, s.g.scale))
	r.MoveTo(x0, yBottom)
	r.LineTo(x0, yTop)
	r.LineTo(x1, yTop)
	r.LineTo(x1, yBottom)
	r.Close()
	r.FillStroke()
}

// hatch is the pattern's lines inside the rectangle x0..x1, yTop..yBottom, every step pixels. Lines sit
// on the same diagonals in every rectangle, so neighbouring periods continue each other's lines.
func hatch(x0, x1, yTop, yBottom int, p Pattern, step int) [][4]int {
	step = max(step, 3)
	var segs [][4]int
	if p == Stripes || p == CrossHatch { // "/": x + y = c
		for c := (x0 + yTop) / step * step; c <= x1+yBottom; c += step {
			xa, xb := max(x0, c-yBottom), min(x1, c-yTop)
			if xa < xb {
				segs = append(segs, [4]int{xa, c - xa, xb, c - xb})
			}
		}
	}
	if p == BackStripes || p == CrossHatch { // "\": x − y = c
		lo := x0 - yBottom
		for c := floorTo(lo, step); c <= x1-yTop; c += step {
			xa, xb := max(x0, c+yTop), min(x1, c+yBottom)
			if xa < xb {
				segs = append(segs, [4]int{xa, xa - c, xb, xb - c})
			}
		}
	}
	return segs
}

func floorTo(v, step int) int {
	if v >= 0 {
		return v / step * step
	}
	return -((-v + step - 1) / step * step)
}

func strokeSegments(r gochart.Renderer, segs [][4]int, col drawing.Color, width float64) {
	if len(segs) == 0 {
		return
	}
	r.SetStrokeColor(col)
	r.SetStrokeWidth(width)
	for _, sg := range segs {
		r.MoveTo(sg[0], sg[1])
		r.LineTo(sg[2], sg[3])
	}
	r.Stroke()
}
