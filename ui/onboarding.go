package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// sampleRecord is the body of the curl command: one small, obviously fake record.
const sampleRecord = `{"account_email":"me@example.com","model":"gemini-2.5-pro","input_tokens":1200,"output_tokens":340}`

// curlCommand is a ready-to-paste command that posts the sample record.
func curlCommand(url, token string) string {
	return fmt.Sprintf("curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '%s' %s",
		token, sampleRecord, url)
}

// maskToken hides a token but for its last four characters.
func maskToken(t string) string {
	if len(t) <= 4 {
		return strings.Repeat("•", len(t))
	}
	return strings.Repeat("•", 12) + t[len(t)-4:]
}

// onboarding is the first-run panel: where to send records, with which token, and a command to try.
// The dashboard shows it while the store holds no record at all, and whenever the toolbar's "Ingest URL
// and token" opens it.
type onboarding struct {
	url    string
	token  func() string
	shown  bool // token revealed
	tokenL *widget.Label
	curlL  *widget.Label
	reveal *widget.Button
	obj    fyne.CanvasObject
}

func newOnboarding(url string, token func() string, copyText func(string), later func(time.Duration, func()),
	connect func()) *onboarding {
	o := &onboarding{url: url, token: token}
	title := widget.NewLabel(lang.L("No usage recorded yet"))
	title.TextStyle.Bold = true
	intro := widget.NewLabel(lang.L("Point your proxy at the ingest URL below: it posts one JSON record per request with the token as a Bearer token. Try it with the curl command."))
	intro.Wrapping = fyne.TextWrapWord

	urlL := widget.NewLabel(url)
	urlL.TextStyle.Monospace = true
	urlL.Selectable = true
	o.tokenL = widget.NewLabel("")
	o.tokenL.TextStyle.Monospace = true
	o.curlL = widget.NewLabel("")
	o.curlL.TextStyle.Monospace = true
	o.curlL.Wrapping = fyne.TextWrapBreak
	o.reveal = widget.NewButton(lang.L("Show"), func() { o.shown = !o.shown; o.refresh() })

	form := widget.NewForm(
		widget.NewFormItem(lang.L("Ingest URL"), container.NewBorder(nil, nil, nil,
			copyButton(lang.L("Copy"), func() { copyText(url) }, later), urlL)),
		widget.NewFormItem(lang.L("Access token"), container.NewBorder(nil, nil, nil,
			container.NewHBox(o.reveal, copyButton(lang.L("Copy token"), func() { copyText(o.token()) }, later)), o.tokenL)),
		widget.NewFormItem(lang.L("Try it"), container.NewBorder(nil, nil, nil,
			copyButton(lang.L("Copy command"), func() { copyText(curlCommand(url, o.token())) }, later), o.curlL)),
	)
	// The pass-through needs no code at all: its dialog sits on the title row, costing no height.
	head := container.NewBorder(nil, nil, nil, widget.NewButton(lang.L("Connect a tool…"), connect), title)
	o.obj = widget.NewCard("", "", container.NewVBox(head, intro, form))
	o.refresh()
	return o
}

// copiedFor is how long a Copy button says "Copied" after a click.
const copiedFor = 2 * time.Second

// copyButton is a button that copies and then says so for a moment, so a click is seen to work; later
// runs a function after a while (the dashboard's clock, so closing the window stops it).
func copyButton(label string, copyIt func(), later func(time.Duration, func())) *widget.Button {
	b := widget.NewButtonWithIcon(label, theme.ContentCopyIcon(), nil)
	b.OnTapped = func() {
		copyIt()
		b.SetText(lang.L("Copied"))
		b.SetIcon(theme.ConfirmIcon())
		later(copiedFor, func() {
			fyne.Do(func() {
				b.SetText(label)
				b.SetIcon(theme.ContentCopyIcon())
			})
		})
	}
	return b
}

// refresh shows the current token (masked unless revealed), for instance after it was regenerated.
func (o *onboarding) refresh() {
	t := o.token()
	shown := maskToken(t)
	o.reveal.SetText(lang.L("Show"))
	if o.shown {
		shown = t
		o.reveal.SetText(lang.L("Hide"))
	}
	o.tokenL.SetText(shown)
	o.curlL.SetText(curlCommand(o.url, shown))
}
