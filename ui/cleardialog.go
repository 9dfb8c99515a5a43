package ui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// clearChoice is what the clear dialog will delete: everything, or records older than Days days.
type clearChoice struct {
	Everything bool
	Days       int
}

// cutoff is the newest timestamp a partial clear removes; records at or before it go.
func (c clearChoice) cutoff(now time.Time) time.Time {
	return now.Add(-time.Duration(c.Days) * 24 * time.Hour)
}

// parseDays reads the "older than N days" box: a whole number from 1 to 3650.
func parseDays(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > stats.MaxHours/24 {
		return 0, errors.New(lang.L("Enter a whole number of days from 1 to 3650."))
	}
	return n, nil
}

// showClearDialog asks what to delete, then says exactly what will go and that it cannot be undone, then
// deletes it off the UI thread and refreshes the views.
func (d *Dashboard) showClearDialog() {
	everything, older := lang.L("Everything"), lang.L("Records older than N days")
	days := widget.NewEntry()
	days.SetText("30")
	choice := widget.NewRadioGroup([]string{everything, older}, func(s string) {
		if s == older {
			days.Enable()
		} else {
			days.Disable()
		}
	})
	choice.Required = true
	choice.SetSelected(older)
	content := container.NewVBox(
		widget.NewLabel(lang.L("Delete which usage records?")),
		choice,
		container.NewBorder(nil, nil, widget.NewLabel(lang.L("Days")), nil, days),
	)
	dlg := dialog.NewCustomConfirm(lang.L("Clear data"), lang.L("Continue"), lang.L("Cancel"), content,
		func(ok bool) {
			if !ok {
				return
			}
			c := clearChoice{Everything: choice.Selected == everything}
			if !c.Everything {
				n, err := parseDays(days.Text)
				if err != nil {
					dialog.ShowError(err, d.win)
					return
				}
				c.Days = n
			}
			d.confirmClear(c)
		}, d.win)
	dlg.Show()
}

// confirmClear counts what the choice removes (off the UI thread) and asks for a final confirmation.
func (d *Dashboard) confirmClear(c clearChoice) {
	now := d.clock.Now()
	d.background(func(ctx context.Context) func() {
		var count int64
		var err error
		if c.Everything {
			var inf stats.Info
			inf, err = d.deps.Store.Info(ctx)
			count = inf.Records
		} else {
			// The number Clear removes, however old the records are.
			count, err = d.deps.Store.CountThrough(ctx, c.cutoff(now))
		}
		return func() {
			if err != nil {
				dialog.ShowError(fmt.Errorf("%s: %w", lang.L("Could not count the records"), err), d.win)
				return
			}
			when := map[string]any{"Date": c.cutoff(now).In(d.loc()).Format("2006-01-02 15:04"),
				"Days": Plural(int64(c.Days), "1 day", "{{.Count}} days")}
			if count == 0 { // nothing to delete: say so, and offer no Delete
				msg := lang.L("There are no usage records to delete.")
				if !c.Everything {
					msg = lang.L("No usage record is older than {{.Days}} (up to {{.Date}}): there is nothing to delete.", when)
				}
				dialog.ShowInformation(lang.L("Nothing to delete"), msg, d.win)
				return
			}
			var msg string
			if c.Everything {
				msg = Plural(count, "The only usage record will be deleted. This cannot be undone.",
					"All {{.Count}} usage records will be deleted. This cannot be undone.")
			} else {
				msg = Plural(count, "1 usage record older than {{.Days}} (up to {{.Date}}) will be deleted; newer records are kept. This cannot be undone.",
					"{{.Count}} usage records older than {{.Days}} (up to {{.Date}}) will be deleted; newer records are kept. This cannot be undone.",
					when)
			}
			cd := dialog.NewConfirm(lang.L("Delete usage records?"), msg, func(ok bool) {
				if ok {
					d.runClear(c, now)
				}
			}, d.win)
			cd.SetConfirmText(lang.L("Delete"))
			cd.SetDismissText(lang.L("Cancel"))
			cd.SetConfirmImportance(widget.DangerImportance)
			cd.Show()
		}
	})
}

// runClear deletes, then refreshes every view and says how many records went.
func (d *Dashboard) runClear(c clearChoice, now time.Time) {
	d.background(func(ctx context.Context) func() {
		var cut *time.Time
		if !c.Everything {
			t := c.cutoff(now)
			cut = &t
		}
		n, err := d.deps.Store.Clear(ctx, cut)
		return func() {
			if err != nil {
				dialog.ShowError(err, d.win)
				return
			}
			d.notify(Plural(n, "Deleted 1 record.", "Deleted {{.Count}} records."))
			d.ask(true)
		}
	})
}
