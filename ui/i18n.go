package ui

import (
	"fmt"
	"io/fs"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/tokenstats/tokenstats/assets/translations"
)

// fyneLocales are the languages Fyne ships translations for, plus English; see UseLanguage.
var fyneLocales = []string{"en", "cs", "de", "el", "es", "fr", "pl", "pt", "pt-BR", "ru", "sv", "ta", "uk", "zh-Hans"}

// LoadTranslations registers Token Stats' translations with Fyne's lang package; the language then
// follows the system locale. Call it before building any window or menu.
func LoadTranslations() error { return UseLanguage("") }

// UseLanguage registers the translations and picks the language: "" follows the system locale, "en" or
// "zh-Hans" force one. Fyne's lang package always matches the system locale and has no setter, so a forced
// language is registered under every locale Fyne could match (its own languages and the system's):
// whatever it picks then answers in the chosen language. Our files also carry Fyne's dialog button
// strings so those follow too.
func UseLanguage(tag string) error {
	files, err := fs.Glob(translations.FS, "*.json")
	if err != nil {
		return fmt.Errorf("list translations: %w", err)
	}
	var forced []byte
	for _, f := range files {
		data, err := fs.ReadFile(translations.FS, f)
		if err != nil {
			return fmt.Errorf("read translations %s: %w", f, err)
		}
		t := strings.TrimSuffix(f, ".json")
		if err := lang.AddTranslationsForLocale(data, fyne.Locale(t)); err != nil {
			return fmt.Errorf("load translations %s: %w", f, err)
		}
		if t == tag {
			forced = data
		}
	}
	if tag == "" {
		return nil
	}
	if forced == nil {
		return fmt.Errorf("no translations for language %q", tag)
	}
	locs := append([]string{string(lang.SystemLocale())}, fyneLocales...)
	for _, l := range locs {
		if err := lang.AddTranslationsForLocale(forced, fyne.Locale(l)); err != nil {
			return fmt.Errorf("force language %s: %w", tag, err)
		}
	}
	return nil
}
