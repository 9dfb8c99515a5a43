// Package translations holds Token Stats' user-visible strings in English and Simplified Chinese, in the
// JSON format of fyne.io/fyne/v2/lang: one file per language, named by its BCP 47 tag, keyed by the
// English text.
package translations

import "embed"

// FS holds en.json and zh-Hans.json at its root.
//
//go:embed *.json
var FS embed.FS
