package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/pricing"
	"github.com/tokenstats/tokenstats/stats"
)

// PriceUpdate replaces the price snapshot: from r, a file the user picked (named name), or, with r nil,
// by downloading LiteLLM's current file. The app stores it in the data folder and prices with it.
type PriceUpdate func(ctx context.Context, r io.Reader, name string) error

// moneySettings adds the settings of prices and limits to the form: the price snapshot (its date and
// licence, and updating it), per-model price overrides, and the limits. Overrides and limits are kept by
// the store; they are read and changed off the UI thread, first once the dialog is shown (loadMoney).
func (d *Dashboard) moneySettings(form *widget.Form) {
	st := d.deps.Store
	prices := container.NewVBox()
	overrides := container.NewVBox()
	limits := container.NewVBox()
	var refresh func()
	change := func(work func(ctx context.Context) error) {
		d.background(func(ctx context.Context) func() {
			err := work(ctx)
			return func() {
				if err != nil {
					dialog.ShowError(err, d.win)
				}
				refresh()
				d.ask(true)
			}
		})
	}
	refresh = func() {
		d.background(func(ctx context.Context) func() {
			ovs, err := st.PriceOverrides(ctx)
			var sts []stats.LimitStatus
			if err == nil {
				sts, err = st.LimitStatuses(ctx, d.clock.Now())
			}
			return func() {
				if err != nil {
					dialog.ShowError(err, d.win)
					return
				}
				prices.Objects = d.snapshotInfo(change)
				prices.Refresh()
				overrides.Objects = d.overrideRows(ovs, change)
				overrides.Refresh()
				limits.Objects = d.limitRows(sts, change)
				limits.Refresh()
			}
		})
	}
	form.Append(lang.L("Prices"), prices)
	form.Append(lang.L("Price overrides"), overrides)
	form.Append(lang.L("Limits"), limits)
	d.loadMoney = refresh
}

// snapshotInfo is the price snapshot's source and date, its licence, and the update buttons.
func (d *Dashboard) snapshotInfo(change func(func(context.Context) error)) []fyne.CanvasObject {
	info := lang.L("No price table: every request is unpriced.")
	if p, ok := d.deps.Store.Pricer().(*pricing.Pricer); ok {
		src := p.Table().Source()
		date := lang.L("date unknown")
		if !src.Date.IsZero() {
			date = src.Date.Format(time.DateOnly)
		}
		info = lang.L("LiteLLM prices of {{.Date}}, from {{.Source}}", map[string]any{"Date": date, "Source": sourceName(src)})
	}
	label := widget.NewLabel(info)
	label.Wrapping = fyne.TextWrapWord
	licence := widget.NewButton(lang.L("Licence…"), func() {
		text := widget.NewLabel(pricing.License())
		text.Wrapping = fyne.TextWrapWord
		scroll := container.NewVScroll(text)
		scroll.SetMinSize(fyne.NewSize(460, 300))
		dialog.ShowCustom(lang.L("Licence of the price table (MIT)"), lang.L("Close"), scroll, d.win)
	})
	row := []fyne.CanvasObject{licence}
	if up := d.deps.Settings.UpdatePrices; up != nil {
		row = append(row, widget.NewButtonWithIcon(lang.L("Download latest"), theme.DownloadIcon(), func() {
			change(func(ctx context.Context) error { return up(ctx, nil, "") })
		}), widget.NewButtonWithIcon(lang.L("From file…"), theme.FileIcon(), func() {
			dialog.ShowFileOpen(func(r fyne.URIReadCloser, err error) {
				if err != nil || r == nil {
					if err != nil {
						dialog.ShowError(err, d.win)
					}
					return
				}
				change(func(ctx context.Context) error {
					defer r.Close()
					return up(ctx, r, r.URI().Name())
				})
			}, d.win)
		}))
	}
	return []fyne.CanvasObject{label, container.NewHBox(row...)}
}

// sourceName is a snapshot's source, short: the commit of LiteLLM's file, or the address or file name.
func sourceName(src pricing.Source) string {
	switch {
	case len(src.Commit) >= 7:
		return "BerriAI/litellm@" + src.Commit[:7]
	case src.URL == "":
		return lang.L("an unnamed file")
	}
	return src.URL
}

// overrideRows lists the overrides, each with a Remove button, and an Add button.
func (d *Dashboard) overrideRows(ovs []stats.PriceOverride, change func(func(context.Context) error)) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	for _, o := range ovs {
		text := lang.L("{{.Model}}: {{.Input}} in, {{.Output}} out per million tokens", map[string]any{
			"Model": o.Model, "Input": o.Input.String(), "Output": o.Output.String()})
		rm := widget.NewButtonWithIcon("", theme.DeleteIcon(), func() {
			change(func(ctx context.Context) error {
				_, err := d.deps.Store.DeletePriceOverride(ctx, o.Model)
				return err
			})
		})
		out = append(out, container.NewBorder(nil, nil, nil, rm, widget.NewLabel(text)))
	}
	return append(out, widget.NewButtonWithIcon(lang.L("Add override…"), theme.ContentAddIcon(), func() {
		d.showOverrideDialog(change)
	}))
}

// parseUSD reads a price or a limit in dollars; "" is nil when optional.
func parseUSD(field, s string, optional bool) (*float64, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "$"))
	if s == "" && optional {
		return nil, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", field, lang.L("enter a number of US dollars, such as 2.5"))
	}
	return &f, nil
}

// showOverrideDialog asks for a model's prices in USD per million tokens.
func (d *Dashboard) showOverrideDialog(change func(func(context.Context) error)) {
	model := widget.NewSelectEntry(nil)
	in, out, cr, cw := widget.NewEntry(), widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	cr.SetPlaceHolder(lang.L("the input price"))
	cw.SetPlaceHolder(lang.L("the input price"))
	items := []*widget.FormItem{
		widget.NewFormItem(lang.L("Model"), model),
		widget.NewFormItem(lang.L("Input, USD per million tokens"), in),
		widget.NewFormItem(lang.L("Output, USD per million tokens"), out),
		widget.NewFormItem(lang.L("Cache read, USD per million tokens"), cr),
		widget.NewFormItem(lang.L("Cache write, USD per million tokens"), cw),
	}
	dlg := dialog.NewForm(lang.L("Price override"), lang.L("Save"), lang.L("Cancel"), items, func(ok bool) {
		if !ok {
			return
		}
		o, err := overrideOf(model.Text, in.Text, out.Text, cr.Text, cw.Text)
		if err != nil {
			dialog.ShowError(err, d.win)
			return
		}
		change(func(ctx context.Context) error { return d.deps.Store.SetPriceOverride(ctx, o) })
	}, d.win)
	dlg.Resize(fyne.NewSize(520, 0))
	dlg.Show()
	// The models seen, to pick from; read once the dialog is up.
	d.background(func(ctx context.Context) func() {
		names, err := d.deps.Store.Models(ctx)
		return func() {
			if err == nil {
				model.SetOptions(names)
			}
		}
	})
}

// overrideOf reads the override dialog's boxes.
func overrideOf(model, in, out, cr, cw string) (stats.PriceOverride, error) {
	model = strings.TrimSpace(model)
	if model == "" {
		return stats.PriceOverride{}, errors.New(lang.L("Enter the model name as the records carry it."))
	}
	var o pricing.Override
	var err error
	var p *float64
	if p, err = parseUSD(lang.L("Input"), in, false); err != nil {
		return stats.PriceOverride{}, err
	}
	o.InputPerMTok = *p
	if p, err = parseUSD(lang.L("Output"), out, false); err != nil {
		return stats.PriceOverride{}, err
	}
	o.OutputPerMTok = *p
	if o.CacheReadPerMTok, err = parseUSD(lang.L("Cache read"), cr, true); err != nil {
		return stats.PriceOverride{}, err
	}
	if o.CacheWritePerMTok, err = parseUSD(lang.L("Cache write"), cw, true); err != nil {
		return stats.PriceOverride{}, err
	}
	return o.Stored(model)
}

// limitRows lists the limits, each with Edit and Delete buttons, and an Add button.
func (d *Dashboard) limitRows(sts []stats.LimitStatus, change func(func(context.Context) error)) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	for _, st := range sts {
		text := lang.L("{{.Name}}: {{.Limit}} per {{.Period}} ({{.Zone}})", map[string]any{"Name": LimitName(st.Limit),
			"Limit": LimitAmount(st.Metric, st.Amount), "Period": lang.L(st.Period), "Zone": st.Zone})
		edit := widget.NewButtonWithIcon("", theme.DocumentCreateIcon(), func() { d.showLimitDialog(&st.Limit, change) })
		rm := widget.NewButtonWithIcon("", theme.DeleteIcon(), func() {
			change(func(ctx context.Context) error {
				_, err := d.deps.Store.DeleteLimit(ctx, st.ID)
				return err
			})
		})
		out = append(out, container.NewBorder(nil, nil, nil, container.NewHBox(edit, rm), widget.NewLabel(text)))
	}
	return append(out, widget.NewButtonWithIcon(lang.L("Add limit…"), theme.ContentAddIcon(), func() {
		d.showLimitDialog(nil, change)
	}))
}

// The choices of the limit dialog, in order: scope and metric values with their labels.
var (
	limitScopes  = []string{stats.ScopeAll, "account", "model", "source", "credential"}
	scopeLabels  = []string{"All usage", "Account", "Model", "Source", "Credential"}
	limitMetrics = []stats.Metric{stats.MetricTokens, stats.MetricRequests, stats.MetricCost}
	metricLabels = []string{"Tokens", "Requests", "Cost (USD)"}
	periods      = []string{stats.PeriodDay, stats.PeriodWeek, stats.PeriodMonth}
)

func translated(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = lang.L(k)
	}
	return out
}

// showLimitDialog adds a limit (old nil) or edits one.
func (d *Dashboard) showLimitDialog(old *stats.Limit, change func(func(context.Context) error)) {
	scope := widget.NewSelect(translated(scopeLabels), nil)
	name := widget.NewEntry()
	name.SetPlaceHolder(lang.L("as the views show it"))
	metric := widget.NewSelect(translated(metricLabels), nil)
	period := widget.NewSelect(translated(periods), nil)
	zone := widget.NewSelectEntry([]string{d.loc().String(), "America/Los_Angeles", "UTC"})
	amount, thresholds, webhook := widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	webhook.SetPlaceHolder(lang.L("optional: https://… receives each alert as JSON"))
	l := stats.Limit{Scope: stats.ScopeAll, Metric: stats.MetricTokens, Period: stats.PeriodDay, Zone: d.loc().String(),
		Thresholds: stats.DefaultThresholds()}
	if old != nil {
		l = *old
	}
	scope.SetSelectedIndex(max(0, slices.Index(limitScopes, l.Scope)))
	name.SetText(l.Name)
	metric.SetSelectedIndex(max(0, slices.Index(limitMetrics, l.Metric)))
	period.SetSelectedIndex(max(0, slices.Index(periods, l.Period)))
	zone.SetText(l.Zone)
	if old != nil {
		if l.Metric == stats.MetricCost {
			amount.SetText(strings.TrimPrefix(stats.Money(l.Amount).String(), "$"))
		} else {
			amount.SetText(strconv.FormatInt(l.Amount, 10))
		}
	}
	ths := make([]string, len(l.Thresholds))
	for i, t := range l.Thresholds {
		ths[i] = strconv.Itoa(t)
	}
	thresholds.SetText(strings.Join(ths, ", "))
	webhook.SetText(l.Webhook)
	items := []*widget.FormItem{
		widget.NewFormItem(lang.L("Counts"), scope), widget.NewFormItem(lang.L("Name"), name),
		widget.NewFormItem(lang.L("Metric"), metric), widget.NewFormItem(lang.L("Period"), period),
		widget.NewFormItem(lang.L("Resets in time zone"), zone), widget.NewFormItem(lang.L("Limit"), amount),
		widget.NewFormItem(lang.L("Alert at %"), thresholds), widget.NewFormItem(lang.L("Webhook"), webhook),
	}
	title := lang.L("Add limit")
	if old != nil {
		title = lang.L("Edit limit")
	}
	dlg := dialog.NewForm(title, lang.L("Save"), lang.L("Cancel"), items, func(ok bool) {
		if !ok {
			return
		}
		n := stats.Limit{Scope: limitScopes[scope.SelectedIndex()], Name: strings.TrimSpace(name.Text),
			Metric: limitMetrics[metric.SelectedIndex()], Period: periods[period.SelectedIndex()],
			Zone: strings.TrimSpace(zone.Text), Webhook: strings.TrimSpace(webhook.Text)}
		if n.Scope == stats.ScopeAll {
			n.Name = ""
		}
		if err := readLimitAmount(&n, amount.Text, thresholds.Text); err != nil {
			dialog.ShowError(err, d.win)
			return
		}
		change(func(ctx context.Context) error {
			var err error
			if old == nil {
				_, err = d.deps.Store.AddLimit(ctx, n)
			} else {
				n.ID = old.ID
				_, err = d.deps.Store.UpdateLimit(ctx, n)
			}
			return err
		})
	}, d.win)
	dlg.Resize(fyne.NewSize(520, 0))
	dlg.Show()
}

// readLimitAmount reads the limit (dollars for cost, a whole number otherwise) and the thresholds
// ("80, 100") into l; the store checks the rest.
func readLimitAmount(l *stats.Limit, amount, thresholds string) error {
	if l.Metric == stats.MetricCost {
		p, err := parseUSD(lang.L("Limit"), amount, false)
		if err != nil {
			return err
		}
		m, err := stats.MoneyFromUSD(*p)
		if err != nil {
			return fmt.Errorf("%s: %w", lang.L("Limit"), err)
		}
		l.Amount = int64(m)
	} else {
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(amount), ",", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %s", lang.L("Limit"), lang.L("enter a whole number"))
		}
		l.Amount = n
	}
	l.Thresholds = nil
	for _, f := range strings.FieldsFunc(thresholds, func(r rune) bool { return r == ',' || r == ' ' || r == '%' }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("%s: %s", lang.L("Alert at %"), lang.L("enter percentages such as 80, 100"))
		}
		l.Thresholds = append(l.Thresholds, n)
	}
	return nil
}
