package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
	"github.com/tokenstats/tokenstats/usage/transfer"
)

// exportButton is the window's "Export…": the records of the range shown, as CSV or JSONL, to a file
// the user picks.
func (d *Dashboard) exportButton() *widget.Button {
	return widget.NewButtonWithIcon(lang.L("Export…"), theme.DocumentSaveIcon(), d.showExportDialog)
}

// exportFilter is the filter of what the window shows; the export writes exactly that.
func (d *Dashboard) exportFilter() stats.Filter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.filters.stats(0)
}

// showExportDialog asks for the format, then for the file.
func (d *Dashboard) showExportDialog() {
	d.mu.Lock()
	r := ranges[d.rangeIdx]
	d.mu.Unlock()
	csvLabel, jsonlLabel := lang.L("CSV, for spreadsheets"), lang.L("JSONL, to import into Token Stats")
	choice := widget.NewRadioGroup([]string{csvLabel, jsonlLabel}, nil)
	choice.Required = true
	choice.SetSelected(csvLabel)
	content := container.NewVBox(
		widget.NewLabel(lang.L("Export the usage records of: {{.Range}}", map[string]any{"Range": lang.L(r.Label)})),
		choice)
	dialog.NewCustomConfirm(lang.L("Export records"), lang.L("Choose file…"), lang.L("Cancel"), content, func(ok bool) {
		if !ok {
			return
		}
		format := transfer.CSV
		if choice.Selected == jsonlLabel {
			format = transfer.JSONL
		}
		end := d.clock.Now()
		win, filter := stats.LastHours(end, r.Hours), d.exportFilter()
		save := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
			if err != nil {
				dialog.ShowError(err, d.win)
				return
			}
			if w == nil {
				return // cancelled
			}
			d.runExport(w, w.URI().Name(), func() error { return storage.Delete(w.URI()) }, format, win, filter)
		}, d.win)
		save.SetFileName(fmt.Sprintf("tokenstats-records-%s.%s", end.In(d.loc()).Format("20060102-1504"), format))
		save.Show()
	}, d.win).Show()
}

// runExport writes the export off the UI thread, with a progress dialog meanwhile, then says how many
// records it wrote; a failed export's partial file is removed with remove.
func (d *Dashboard) runExport(w io.WriteCloser, name string, remove func() error, f transfer.Format,
	win stats.Window, filter stats.Filter) {
	prog := dialog.NewCustomWithoutButtons(lang.L("Exporting…"), widget.NewProgressBarInfinite(), d.win)
	prog.Show()
	d.background(func(ctx context.Context) func() {
		n, err := writeExport(ctx, d.deps.Store, w, f, win, filter)
		if err != nil && remove != nil {
			remove()
		}
		return func() {
			prog.Hide()
			if err != nil {
				dialog.ShowError(fmt.Errorf("%s: %w", lang.L("Export failed"), err), d.win)
				return
			}
			dialog.ShowInformation(lang.L("Export done"), lang.L("Wrote {{.Count}} records to {{.File}}.",
				map[string]any{"Count": Exact(n), "File": name}), d.win)
		}
	})
}

// writeExport writes the records of a window to w (a CSV with the byte order mark spreadsheets need)
// and closes it.
func writeExport(ctx context.Context, st *stats.Store, w io.WriteCloser, f transfer.Format, win stats.Window,
	filter stats.Filter) (int64, error) {
	var n int64
	ew, err := transfer.NewWriter(w, f, st.Location(), true)
	if err == nil {
		err = st.Export(ctx, win, filter, func(r *stats.ExportedRecord) error {
			n++
			return ew.Write(r)
		})
	}
	if err == nil {
		err = ew.Close()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// importButton is Settings' "Import…": a file of records, in any format import reads.
func (d *Dashboard) importButton() *widget.Button {
	return widget.NewButtonWithIcon(lang.L("Import…"), theme.FolderOpenIcon(), func() {
		dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
			if err != nil {
				dialog.ShowError(err, d.win)
				return
			}
			if r == nil {
				return // cancelled
			}
			r.Close()
			if r.URI().Scheme() != "file" {
				dialog.ShowError(errors.New(lang.L("Choose a file on this computer.")), d.win)
				return
			}
			d.runImport(r.URI().Path())
		}, d.win).Show()
	})
}

// runImport imports a file off the UI thread with a progress bar and a Cancel button, then reports what
// was added, what was there already and what was skipped, and why.
func (d *Dashboard) runImport(path string) {
	ctx, cancel := context.WithCancel(d.ctx)
	bar := widget.NewProgressBar()
	counts := widget.NewLabel("")
	prog := dialog.NewCustom(lang.L("Importing…"), lang.L("Cancel"), container.NewVBox(
		widget.NewLabel(path), bar, counts), d.win)
	prog.SetOnClosed(cancel)
	prog.Resize(fyne.NewSize(460, 0))
	prog.Show()
	var shown time.Time
	progress := func(p transfer.Progress) {
		if now := time.Now(); now.Sub(shown) >= 100*time.Millisecond {
			shown = now
			d.do(func() {
				if p.Total > 0 {
					bar.SetValue(float64(p.Done) / float64(p.Total))
				}
				counts.SetText(importCounts(p))
			})
		}
	}
	d.background(func(context.Context) func() {
		defer cancel()
		rep, err := transfer.Import(ctx, path, transfer.ImportOptions{Progress: progress,
			Store: func(ctx context.Context, recs []stats.Record) (stats.Result, error) {
				return d.deps.Store.Record(ctx, recs...)
			}})
		return func() {
			prog.Hide() // its Cancel callback now cancels a finished import: nothing
			if errors.Is(err, context.Canceled) {
				d.showImportReport(lang.L("Import cancelled"), rep,
					lang.L("What was stored stays; importing the file again completes it without counting anything twice."))
				return
			}
			if err != nil {
				msg := fmt.Errorf("%s: %w", lang.L("Import failed"), err)
				if rep.Accepted+rep.Duplicates > 0 {
					msg = fmt.Errorf("%w\n%s", msg, lang.L("What was stored stays; importing the file again completes it without counting anything twice."))
				}
				dialog.ShowError(msg, d.win)
				return
			}
			d.showImportReport(lang.L("Import done"), rep)
		}
	})
}

// importCounts is a progress line: new, already stored, skipped.
func importCounts(p transfer.Progress) string {
	return lang.L("{{.New}} new, {{.Old}} already stored, {{.Skipped}} skipped", map[string]any{
		"New": Exact(p.Accepted), "Old": Exact(p.Duplicates), "Skipped": Exact(p.Skipped)})
}

// showImportReport says what an import did: the format it read, the counts, the reasons rows were
// skipped (with the first examples) and what the reader had to decide.
func (d *Dashboard) showImportReport(title string, rep transfer.Report, more ...string) {
	lines := append([]string{rep.Format.Name(), importCounts(rep.Progress)}, more...)
	for _, s := range rep.Skips {
		lines = append(lines, lang.L("Skipped for {{.Reason}}: {{.Count}}", map[string]any{"Reason": s.Reason, "Count": Exact(s.Count)}))
	}
	for _, e := range rep.Examples {
		lines = append(lines, "  "+e.Msg)
	}
	for _, n := range rep.Notes {
		lines = append(lines, lang.L("Note: {{.Text}}", map[string]any{"Text": n}))
	}
	text := widget.NewLabel(strings.Join(lines, "\n"))
	text.Wrapping = fyne.TextWrapWord
	dlg := dialog.NewCustom(title, lang.L("Close"), container.NewVScroll(text), d.win)
	dlg.Resize(fyne.NewSize(560, 360))
	dlg.Show()
}
