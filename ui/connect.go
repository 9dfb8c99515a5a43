package ui

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"
)

// connectLine is one setting a client needs: where it goes, and its exact text with this instance's
// address in it. Shown is what the dialog displays when it differs (the token masked).
type connectLine struct {
	Where, Text, Shown string
}

// connectClient is one tool and the lines that connect it (docs/capture.md says where each comes from).
type connectClient struct {
	Name, Intro string
	Lines       []connectLine
}

// connectClients are the clients "Connect a tool…" explains, for the listener at base.
func connectClients(base, token string) []connectClient {
	p := base + "/proxy/"
	bearer := "Authorization=Bearer " + token
	shownBearer := "Authorization=Bearer " + maskToken(token)
	return []connectClient{
		{"gcli2api", lang.L("Set in gcli2api's .env file or environment, then restart it. Each request is recorded under its credential's Google Cloud project."),
			[]connectLine{
				{lang.L("Gemini CLI credentials"), "CODE_ASSIST_ENDPOINT=" + p + "gemini-code-assist", ""},
				{lang.L("Antigravity credentials"), "ANTIGRAVITY_API_URL=" + p + "antigravity", ""},
			}},
		{"Gemini CLI", lang.L("Set in the environment Gemini CLI starts from."),
			[]connectLine{
				{lang.L("Login with Google"), "CODE_ASSIST_ENDPOINT=" + p + "gemini-code-assist", ""},
				{lang.L("Gemini API key"), "GOOGLE_GEMINI_BASE_URL=" + p + "gemini", ""},
			}},
		{"Claude Code", lang.L("Set in the environment, or in the env block of ~/.claude/settings.json."),
			[]connectLine{{lang.L("Environment"), "ANTHROPIC_BASE_URL=" + p + "anthropic", ""}}},
		{"Codex / OpenAI SDK", lang.L("The OpenAI SDKs read OPENAI_BASE_URL. For Codex, add the provider to ~/.codex/config.toml (it reads the key from OPENAI_API_KEY)."),
			[]connectLine{
				{lang.L("Environment"), "OPENAI_BASE_URL=" + p + "openai/v1", ""},
				{"~/.codex/config.toml", "model_provider = \"tokenstats\"\n\n[model_providers.tokenstats]\nname = \"OpenAI through Token Stats\"\nbase_url = \"" +
					p + "openai/v1\"\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"", ""},
			}},
		{"LiteLLM", lang.L("In config.yaml, under litellm_params of each model in model_list."),
			[]connectLine{
				{lang.L("OpenAI models"), "api_base: " + p + "openai/v1", ""},
				{lang.L("Anthropic models"), "api_base: " + p + "anthropic", ""},
			}},
		{"CLIProxyAPI", lang.L("In config.yaml, on each API-key entry."),
			[]connectLine{
				{"gemini-api-key", `base-url: "` + p + `gemini"`, ""},
				{"claude-api-key", `base-url: "` + p + `anthropic"`, ""},
				{"codex-api-key, openai-compatibility", `base-url: "` + p + `openai/v1"`, ""},
			}},
		{lang.L("Telemetry"), lang.L("Agents that export OpenTelemetry, and LiteLLM's logger, report usage themselves; these lines carry the access token (docs/telemetry.md)."),
			[]connectLine{
				{lang.L("OTLP endpoint"), "OTEL_EXPORTER_OTLP_ENDPOINT=" + base, ""},
				{lang.L("OTLP protocol"), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", ""},
				{lang.L("OTLP headers"), "OTEL_EXPORTER_OTLP_HEADERS=" + bearer, "OTEL_EXPORTER_OTLP_HEADERS=" + shownBearer},
				{lang.L("LiteLLM logger"), "GENERIC_LOGGER_ENDPOINT=" + base + "/ingest/litellm", ""},
				{lang.L("LiteLLM logger headers"), "GENERIC_LOGGER_HEADERS=" + bearer, "GENERIC_LOGGER_HEADERS=" + shownBearer},
			}},
	}
}

// baseURL is the listener's address, e.g. http://127.0.0.1:8788.
func (d *Dashboard) baseURL() string {
	if d.deps.BaseURL != "" {
		return strings.TrimSuffix(d.deps.BaseURL, "/")
	}
	return strings.TrimSuffix(d.deps.IngestURL, "/usage")
}

// ShowConnect shows the window and the "Connect a tool…" dialog. It may be called from any goroutine
// (the tray menu).
func (d *Dashboard) ShowConnect() {
	d.Show()
	fyne.Do(d.showConnect)
}

// showConnect opens "Connect a tool…": per client, the exact lines to set, each with a Copy button.
func (d *Dashboard) showConnect() {
	clients := connectClients(d.baseURL(), d.deps.Token())
	tabs := container.NewAppTabs()
	for _, c := range clients {
		intro := widget.NewLabel(c.Intro)
		intro.Wrapping = fyne.TextWrapWord
		box := container.NewVBox(intro)
		for _, l := range c.Lines {
			box.Add(d.connectRow(l))
		}
		check := widget.NewLabel(lang.L("Then send one request: the upstream's name appears on the Sources tab with it, or with the error the upstream answered."))
		check.Wrapping = fyne.TextWrapWord
		check.Importance = widget.LowImportance
		box.Add(check)
		tabs.Append(container.NewTabItem(c.Name, container.NewVScroll(box)))
	}
	tabs.SetTabLocation(container.TabLocationLeading)
	dlg := dialog.NewCustom(lang.L("Connect a tool"), lang.L("Close"), tabs, d.win)
	dlg.Resize(fyne.NewSize(860, 520))
	dlg.Show()
}

// connectRow is one line with its Copy button, which says that it copied.
func (d *Dashboard) connectRow(l connectLine) fyne.CanvasObject {
	where := widget.NewLabel(l.Where)
	where.TextStyle.Bold = true
	shown := l.Shown
	if shown == "" {
		shown = l.Text
	}
	text := widget.NewLabel(shown)
	text.TextStyle.Monospace = true
	text.Wrapping = fyne.TextWrapBreak
	text.Selectable = true
	var btn *widget.Button
	btn = widget.NewButton(lang.L("Copy"), func() {
		fyne.CurrentApp().Clipboard().SetContent(l.Text)
		if d.copied != nil && d.copied != btn {
			d.copied.SetText(lang.L("Copy")) // only the line copied last says so
		}
		d.copied = btn
		btn.SetText(lang.L("Copied"))
	})
	return container.NewVBox(where, container.NewBorder(nil, nil, nil, btn, text))
}
