// Package localeenv gives Fyne's translation package a locale it can read. Its only work is done in
// init, which Go runs before the init of fyne.io/fyne/v2/lang (see the test): that init reads the
// locale from the environment through github.com/jeandeaual/go-locale, which takes the first set of
// LC_ALL, LC_MESSAGES and LANG, treats exactly "C" or "POSIX" as no locale, and otherwise lets LANGUAGE
// win when set. So "C.UTF-8" (the default of Debian containers and CI) reaches golang.org/x/text as the
// tag "C", which does not parse, and Fyne logs three "Fyne error: Error parsing user locale C" lines on
// stderr, in every command and again whenever a window asks for the locale.
//
// The C locale's messages are the untranslated ones, English; LANGUAGE=en says the same to Fyne, and
// to any program started from here that reads it. Nothing is changed when LANGUAGE is already set or
// the locale is anything else.
package localeenv

import (
	"os"
	"strings"
)

func init() { Fix(os.Getenv, os.Setenv) }

// Fix sets LANGUAGE=en when the locale that decides message language is C or POSIX with a codeset or
// modifier ("C.UTF-8", "POSIX@euro") and LANGUAGE is unset. It reports whether it set it.
func Fix(getenv func(string) string, setenv func(string, string) error) bool {
	if getenv("LANGUAGE") != "" {
		return false
	}
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		lang, _, _ := strings.Cut(v, ".")
		lang, _, _ = strings.Cut(lang, "@")
		if v != lang && (lang == "C" || lang == "POSIX") {
			return setenv("LANGUAGE", "en") == nil
		}
		return false
	}
	return false
}
