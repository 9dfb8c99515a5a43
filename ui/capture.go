package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/tokenstats/tokenstats/stats"
)

// Upstream is one API the pass-through forwards to, as the settings window lists it.
type Upstream struct {
	Name, URL string
	Builtin   bool // one of the built-in upstreams: it can be re-pointed, and reset, not removed
	Saved     bool // settings.json adds or re-points it
	Fixed     bool // --upstream or TOKENSTATS_UPSTREAMS set it: the settings cannot change it
}

// appendCaptureSettings adds the pass-through's settings to the settings form: "Connect a tool…", the
// upstreams, the Google account lookup, and names for accounts and keys.
func (d *Dashboard) appendCaptureSettings(form *widget.Form) {
	s := d.deps.Settings
	form.Append(lang.L("Connect"), widget.NewButton(lang.L("Connect a tool…"), d.showConnect))
	if s.Upstreams != nil && s.SetUpstream != nil && s.RemoveUpstream != nil {
		form.Append(lang.L("Pass-through"), widget.NewButton(lang.L("Upstreams…"), d.showUpstreams))
	}
	if s.LookupEmail != nil && s.SetLookupEmail != nil {
		chk := widget.NewCheck(lang.L("Name Code Assist tokens by their Google account (asks Google once per token)"), nil)
		chk.SetChecked(s.LookupEmail())
		chk.OnChanged = func(on bool) {
			if err := s.SetLookupEmail(on); err != nil {
				dialog.ShowError(fmt.Errorf("%s: %w", lang.L("Google accounts"), err), d.win)
			}
		}
		form.Append(lang.L("Google accounts"), chk)
	}
	if d.deps.Store != nil {
		form.Append(lang.L("Names"), widget.NewButton(lang.L("Name accounts and keys…"), d.showAliases))
	}
}

// showUpstreams lists the pass-through's upstreams and edits the ones settings.json holds; a change is
// in effect at once.
func (d *Dashboard) showUpstreams() {
	s := d.deps.Settings
	fail := func(err error) { dialog.ShowError(fmt.Errorf("%s: %w", lang.L("Upstreams"), err), d.win) }
	list := container.NewVBox()
	name, url := widget.NewEntry(), widget.NewEntry()
	name.SetPlaceHolder("openai")
	url.SetPlaceHolder("https://api.openai.com")
	var refill func()
	refill = func() {
		list.RemoveAll()
		for _, u := range s.Upstreams() {
			where := lang.L("built in")
			switch {
			case u.Fixed:
				where = lang.L("set on the command line")
			case u.Saved && u.Builtin:
				where = lang.L("re-pointed in settings")
			case u.Saved:
				where = lang.L("added in settings")
			}
			label := widget.NewLabel(fmt.Sprintf("/proxy/%s/ → %s  (%s)", u.Name, u.URL, where))
			label.Truncation = fyne.TextTruncateEllipsis
			edit := widget.NewButton(lang.L("Edit"), func() { name.SetText(u.Name); url.SetText(u.URL) })
			remove := widget.NewButton(lang.L("Remove"), func() {
				if err := s.RemoveUpstream(u.Name); err != nil {
					fail(err)
					return
				}
				refill()
			})
			if u.Builtin {
				remove.SetText(lang.L("Reset"))
			}
			if u.Fixed {
				edit.Disable()
			}
			if u.Fixed || !u.Saved {
				remove.Disable()
			}
			list.Add(container.NewBorder(nil, nil, nil, container.NewHBox(edit, remove), label))
		}
	}
	refill()
	save := widget.NewButton(lang.L("Save"), func() {
		if err := s.SetUpstream(strings.TrimSpace(name.Text), strings.TrimSpace(url.Text)); err != nil {
			fail(err)
			return
		}
		name.SetText("")
		url.SetText("")
		refill()
	})
	form := widget.NewForm(widget.NewFormItem(lang.L("Name"), name), widget.NewFormItem(lang.L("URL"), url))
	help := widget.NewLabel(lang.L("A request to /proxy/{name}/… goes to the URL with the rest of the path after it. A name that is already listed is re-pointed."))
	help.Wrapping = fyne.TextWrapWord
	content := container.NewBorder(nil, container.NewVBox(help, form, container.NewHBox(save)), nil, nil, container.NewVScroll(list))
	dlg := dialog.NewCustom(lang.L("Upstreams"), lang.L("Close"), content, d.win)
	dlg.Resize(fyne.NewSize(760, 480))
	dlg.Show()
}

// aliasDims are the dimensions the names dialog edits: the pass-through names accounts by project or
// key fingerprint, and credentials by fingerprint.
var aliasDims = []struct {
	label string
	dim   stats.Dimension
}{{"Accounts", stats.ByAccount}, {"Keys and credentials", stats.ByCredential}}

// showAliases names accounts and keys ("key …a1b2" = "work"): the name is shown in every view, past
// records included, and names given the same one count as one.
func (d *Dashboard) showAliases() {
	st := d.deps.Store
	labels := make([]string, len(aliasDims))
	for i, a := range aliasDims {
		labels[i] = lang.L(a.label)
	}
	which := widget.NewRadioGroup(labels, nil)
	which.Horizontal = true
	which.Required = true
	name := widget.NewSelectEntry(nil)
	name.SetPlaceHolder(lang.L("As recorded, e.g. key …a1b2"))
	alias := widget.NewEntry()
	alias.SetPlaceHolder(lang.L("Shown as, e.g. work"))
	current := container.NewVBox()
	dim := func() stats.Dimension { return aliasDims[max(0, slices.Index(labels, which.Selected))].dim }

	var reload func()
	reload = func() {
		dm := dim()
		d.background(func(ctx context.Context) func() {
			names, aliases, err := aliasNames(ctx, st, dm, d.clock.Now())
			return func() {
				if err != nil {
					dialog.ShowError(err, d.win)
					return
				}
				name.SetOptions(names)
				current.RemoveAll()
				keys := make([]string, 0, len(aliases))
				for k := range aliases {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					remove := widget.NewButton(lang.L("Remove"), func() { d.setAlias(dm, k, "", reload) })
					current.Add(container.NewBorder(nil, nil, nil, remove, widget.NewLabel(k+" = "+aliases[k])))
				}
				if len(keys) == 0 {
					current.Add(widget.NewLabel(lang.L("No names given yet.")))
				}
			}
		})
	}
	which.SetSelected(labels[0])
	save := widget.NewButton(lang.L("Save"), func() {
		n, a := strings.TrimSpace(name.Text), strings.TrimSpace(alias.Text)
		alias.SetText("") // before the work starts: its result may apply at once
		d.setAlias(dim(), n, a, reload)
	})
	help := widget.NewLabel(lang.L("The pass-through records an account as the Code Assist project or as a key's fingerprint (key …a1b2). Give it a name: every view shows the name, past records included, and names given the same one count as one."))
	help.Wrapping = fyne.TextWrapWord
	form := widget.NewForm(widget.NewFormItem(lang.L("Name"), name), widget.NewFormItem(lang.L("Shown as"), alias))
	content := container.NewBorder(container.NewVBox(help, which, form, container.NewHBox(save)), nil, nil, nil,
		container.NewVScroll(current))
	dlg := dialog.NewCustom(lang.L("Names of accounts and keys"), lang.L("Close"), content, d.win)
	dlg.Resize(fyne.NewSize(640, 520))
	dlg.Show()
	which.OnChanged = func(string) { reload() }
	reload() // once the dialog is built: its widgets are then only touched on the UI thread
}

// setAlias stores an alias off the UI thread and then reloads the dialog and the views.
func (d *Dashboard) setAlias(dim stats.Dimension, name, alias string, then func()) {
	d.background(func(ctx context.Context) func() {
		err := d.deps.Store.SetAlias(ctx, dim, name, alias)
		return func() {
			if err != nil {
				dialog.ShowError(err, d.win)
				return
			}
			then()
			d.ask(true)
		}
	})
}

// aliasNames are the names recorded in a dimension (as stored, not as shown) and its aliases.
func aliasNames(ctx context.Context, st *stats.Store, dim stats.Dimension, now time.Time) ([]string, map[string]string, error) {
	aliases, err := st.Aliases(ctx, dim)
	if err != nil {
		return nil, nil, err
	}
	rows, err := st.Breakdown(ctx, dim, stats.LastHours(now, stats.MaxHours), stats.Filter{})
	if err != nil {
		return nil, nil, err
	}
	shownAs := map[string]bool{}
	for _, a := range aliases {
		shownAs[a] = true
	}
	var names []string
	for _, r := range rows {
		if !shownAs[r.Name] && r.Name != "" {
			names = append(names, r.Name) // rows show aliases; the aliased names come from the map
		}
	}
	for n := range aliases {
		names = append(names, n)
	}
	slices.Sort(names)
	return slices.Compact(names), aliases, nil
}
