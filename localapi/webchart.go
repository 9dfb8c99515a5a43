package localapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"strconv"
	"sync"

	"github.com/tokenstats/tokenstats/assets/fonts"
	"github.com/tokenstats/tokenstats/chart"
	"github.com/tokenstats/tokenstats/stats"
)

// webState is what the tab's routes load on first use: the translations and the chart font (a few MB
// that a server used only by proxies never needs).
type webState struct {
	once    sync.Once
	catalog catalog
	font    *chart.Font
	err     error
}

func (s *Server) webAssets() (catalog, *chart.Font, error) {
	w := &s.web
	w.once.Do(func() {
		if w.catalog, w.err = loadCatalog(); w.err != nil {
			return
		}
		var ttf []byte
		if ttf, w.err = fonts.Regular(); w.err == nil {
			w.font, w.err = chart.LoadFont(ttf)
		}
	})
	return w.catalog, w.font, w.err
}

// chartDims are the dimensions a chart route draws, by the name in its path.
var chartDims = []stats.Dimension{stats.ByModel, stats.ByAccount, stats.BySource, stats.ByCredential}

// chartRequest is what a chart route was asked for.
type chartRequest struct {
	q    stats.TrendQuery
	opt  chart.Options
	lang string
}

// parseChart reads hours, the filters, metric, granularity (hourly or daily where the range offers it,
// else the range's default), width, height, scale (device pixels per pixel, 1–4), dark=1 and lang.
func (s *Server) parseChart(r *http.Request, d stats.Dimension) (chartRequest, error) {
	cr := chartRequest{q: stats.TrendQuery{Dimension: d, End: s.cfg.Now()}, lang: s.langOf(r)}
	var err error
	if cr.q.Hours, err = parseHours(r); err != nil {
		return cr, err
	}
	if cr.q.Filter, err = parseFilter(r); err != nil {
		return cr, err
	}
	if cr.q.Metric, err = stats.ParseMetric(r.URL.Query().Get("metric")); err != nil {
		return cr, err
	}
	if g := r.URL.Query().Get("granularity"); g != "" {
		if cr.q.Granularity, err = stats.ParseGranularity(g); err != nil {
			return cr, err
		}
	}
	if cr.opt.Width, err = wholeParam(r, "width", 800, 200, 2400); err != nil {
		return cr, err
	}
	if cr.opt.Height, err = wholeParam(r, "height", 300, 120, 1200); err != nil {
		return cr, err
	}
	cr.opt.Scale = 1
	if v := r.URL.Query().Get("scale"); v != "" {
		f, err := strconv.ParseFloat(v, 32)
		if err != nil || !(f >= 1 && f <= 4) {
			return cr, fmt.Errorf("scale must be a number from 1 to 4, not %.20q", v)
		}
		cr.opt.Scale = float32(f)
	}
	cr.opt.Dark = r.URL.Query().Get("dark") == "1"
	return cr, nil
}

// chartInput reads the trend by the chart policy and names what the chart writes in the request's
// language: "other", records without a source or credential, "no data", "in progress".
func (s *Server) chartInput(ctx context.Context, cr *chartRequest) (chart.Input, stats.Trend, error) {
	cat, font, err := s.webAssets()
	if err != nil {
		return chart.Input{}, stats.Trend{}, err
	}
	tr, err := chart.Trend(ctx, s.cfg.Store, cr.q)
	if err != nil {
		return chart.Input{}, tr, err
	}
	in := chart.FromTrend(tr, cr.q.End, chart.Lang(cr.lang))
	for i := range in.Series {
		switch {
		case in.Series[i].Other:
			in.Series[i].Label = cat.T(cr.lang, "series.other")
		case in.Series[i].Name == "":
			in.Series[i].Label = cat.T(cr.lang, "(none)")
		}
	}
	cr.opt.Font = font
	cr.opt.NoDataText = cat.T(cr.lang, "No data in this range")
	cr.opt.PartialText = cat.T(cr.lang, "in progress")
	return in, tr, nil
}

// chartFor reads a chart route's question and the chart's input; on a bad question or a failed query
// it has answered and ok is false.
func (s *Server) chartFor(w http.ResponseWriter, r *http.Request, d stats.Dimension) (cr chartRequest, in chart.Input, tr stats.Trend, ok bool) {
	cr, err := s.parseChart(r, d)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return cr, in, tr, false
	}
	if in, tr, err = s.chartInput(r.Context(), &cr); err != nil {
		s.queryFailed(w, err)
		return cr, in, tr, false
	}
	return cr, in, tr, true
}

// chartSVG is GET /stats/chart/{dim}.svg: the trend drawn by the same code and policy as the window.
// SVG text is drawn by the viewer's fonts; the tab itself uses the PNG of chartJSON.
func (s *Server) chartSVG(d stats.Dimension) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cr, in, _, ok := s.chartFor(w, r, d)
		if !ok {
			return
		}
		var buf bytes.Buffer
		if _, err := chart.SVG(&buf, in, cr.opt); err != nil {
			s.cfg.Logger.Error("chart", "err", err)
			writeError(w, http.StatusInternalServerError, "draw chart: "+err.Error())
			return
		}
		// Opened on its own, the document may style itself but never run anything.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(buf.Bytes())
	}
}

type chartPlotJSON struct {
	Left   int `json:"left"`
	Top    int `json:"top"`
	Right  int `json:"right"`
	Bottom int `json:"bottom"`
}

type chartPeriodJSON struct {
	Label   string `json:"label"`
	Time    string `json:"time"`
	Partial bool   `json:"partial"`
	Total   string `json:"total"` // the period's sum, written exactly in the unit
}

type chartSeriesJSON struct {
	Name    string    `json:"name"`  // as stored ("" for no source or credential); filters use it
	Label   string    `json:"label"` // as the legend writes it
	Other   bool      `json:"other"`
	Color   string    `json:"color"` // hex, no '#'
	Pattern string    `json:"pattern"`
	Values  []float64 `json:"values"` // tokens, requests or nano-dollars
	Text    []string  `json:"text"`   // the values written exactly: 1,234 or $0.0125
}

type chartJSON struct {
	Success       bool              `json:"success"`
	Hours         int               `json:"hours"`
	Granularity   string            `json:"granularity"`
	Granularities []string          `json:"granularities"`
	Metric        string            `json:"metric"`
	Image         string            `json:"image"` // a data: URL of the PNG
	Width         int               `json:"width"` // the image in device pixels
	Height        int               `json:"height"`
	Plot          chartPlotJSON     `json:"plot"` // where the periods are, in the image's pixels
	Periods       []chartPeriodJSON `json:"periods"`
	Series        []chartSeriesJSON `json:"series"`
}

var patternNames = map[chart.Pattern]string{chart.Solid: "solid", chart.Stripes: "stripes",
	chart.BackStripes: "back-stripes", chart.CrossHatch: "cross-hatch"}

// chartJSON is GET /stats/chart/{dim}.json: the chart as a PNG drawn with the embedded font (so Chinese
// renders in any browser) together with what a hover shows and where each period is, from one reading
// of the store, so the picture and the numbers agree.
func (s *Server) chartJSON(d stats.Dimension) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cr, in, tr, ok := s.chartFor(w, r, d)
		if !ok {
			return
		}
		img, lay, err := chart.PNG(in, cr.opt)
		var buf bytes.Buffer
		if err == nil {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
		}
		if err != nil {
			s.cfg.Logger.Error("chart", "err", err)
			writeError(w, http.StatusInternalServerError, "draw chart: "+err.Error())
			return
		}
		out := chartJSON{Success: true, Hours: cr.q.Hours, Granularity: tr.Granularity.String(), Metric: tr.Metric.String(),
			Image: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
			Width: lay.Width, Height: lay.Height, Plot: chartPlotJSON{lay.Left, lay.Top, lay.Right, lay.Bottom},
			Periods: make([]chartPeriodJSON, in.Periods()), Series: []chartSeriesJSON{}}
		for _, g := range chart.Granularities(cr.q.Hours) {
			out.Granularities = append(out.Granularities, g.String())
		}
		totals := make([]float64, in.Periods())
		sw := chart.Swatches(in.Series)
		for k, ser := range in.Series {
			sj := chartSeriesJSON{Name: ser.Name, Label: ser.Text(), Other: ser.Other, Color: sw[k].Color, Pattern: patternNames[sw[k].Pattern],
				Values: ser.Values, Text: make([]string, len(ser.Values))}
			for i, v := range ser.Values {
				sj.Text[i] = in.Unit.Value(v)
				totals[i] += v
			}
			out.Series = append(out.Series, sj)
		}
		for i := range out.Periods {
			out.Periods[i] = chartPeriodJSON{Label: in.Labels[i], Time: in.Times[i], Partial: in.Partial[i], Total: in.Unit.Value(totals[i])}
		}
		writeJSON(w, http.StatusOK, out)
	}
}
