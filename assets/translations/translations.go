// Package translations holds Token Stats' user-visible strings in English and Simplified Chinese, in the
// JSON format of fyne.io/fyne/v2/lang: one file per language, named by its BCP 47 tag, keyed by the
// English text.
package translations

import "embed"

// FS holds en.json and zh-Hans.json at its root.
//
//go:embed *.json
var FS embed.FS

// Language is a language the app is translated into: its BCP 47 tag (the file name) and its name in
// itself, which is how a language list shows it.
type Language struct {
	Tag, Name string
}

// Languages lists the translations, English first.
func Languages() []Language {
	return []Language{{"en", "English"}, {"zh-Hans", "简体中文"}}
}
