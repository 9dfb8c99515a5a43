package fonts

import (
	"io/fs"
	"testing"

	"github.com/golang/freetype/truetype"

	"github.com/tokenstats/tokenstats/assets/translations"
)

// Every character a translation uses has a glyph in both weights (the bold cut holds only these, so a
// new translated string with a new character needs `go run ./cmd/fontsubset`), and the regular weight
// has the common hanzi model and account names use.
func TestFontsCoverTheTranslations(t *testing.T) {
	load := func(get func() ([]byte, error)) *truetype.Font {
		t.Helper()
		b, err := get()
		if err != nil {
			t.Fatal(err)
		}
		f, err := truetype.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	regular, bold := load(Regular), load(Bold)
	if name := regular.Name(truetype.NameIDFontFamily); name != Family {
		t.Errorf("family %q, want %q", name, Family)
	}
	files, err := fs.Glob(translations.FS, "*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("translations: %v %v", files, err)
	}
	checked := 0
	for _, f := range files {
		b, err := fs.ReadFile(translations.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range string(b) {
			if r < 0x20 {
				continue
			}
			checked++
			if regular.Index(r) == 0 {
				t.Errorf("%s: %q (U+%04X) has no regular glyph", f, r, r)
			}
			if bold.Index(r) == 0 {
				t.Errorf("%s: %q (U+%04X) has no bold glyph: run cmd/fontsubset", f, r, r)
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d characters checked", checked)
	}
	for _, r := range "通义千问文心一言豆包智谱清言混元星火深度求索月之暗面张伟王芳李娜账号模型，。：（）" {
		if regular.Index(r) == 0 {
			t.Errorf("%q has no regular glyph", r)
		}
	}
	// A character outside GB 2312 is outside the cut: the subset is what it says.
	if regular.Index('𠀀') != 0 {
		t.Error("the regular cut holds CJK Extension B: not the GB 2312 subset")
	}
	if len(License()) < 4000 || len(RegularGzip()) > 2<<20 {
		t.Errorf("licence %d bytes, compressed regular %d bytes", len(License()), len(RegularGzip()))
	}
}
