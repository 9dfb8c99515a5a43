// Command fontsubset makes the typeface embedded in package assets/fonts: Noto Sans SC (SIL OFL 1.1),
// cut down with fontTools' subsetter to what Token Stats draws, and gzip-compressed.
//
//	npm pack @expo-google-fonts/noto-sans-sc@0.4.3 && tar xzf expo-google-fonts-noto-sans-sc-0.4.3.tgz
//	go run ./cmd/fontsubset -from package [-python /usr/bin/python3] [-out assets/fonts]
//
// The npm package carries Google Fonts' static TrueType cuts (glyf outlines, which golang/freetype and
// so the charts can read; the OpenType/CFF cuts of fonts-noto-cjk it cannot). The regular weight keeps
// every character of GB 2312 (its 6,763 hanzi are the common ones of Simplified Chinese, with its
// punctuation and symbols) plus Latin, general punctuation and full-width forms; the bold weight, which
// the window uses only for headings, captions, buttons and numbers, keeps Latin and the characters of the
// translations. fontTools comes from Debian's python3-fonttools. The command prints each file's size.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tokenstats/tokenstats/assets/translations"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fontsubset:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("fontsubset", flag.ContinueOnError)
	from := flags.String("from", "", "the unpacked @expo-google-fonts/noto-sans-sc npm package (required)")
	python := flags.String("python", "python3", "a Python 3 with fontTools (Debian: python3-fonttools)")
	out := flags.String("out", filepath.Join("assets", "fonts"), "where to write the .ttf.gz files")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("-from is required")
	}
	tr, err := translationRunes()
	if err != nil {
		return err
	}
	regular := union(latin(), gb2312(), tr)
	bold := union(latin(), tr)
	for _, cut := range []struct {
		src, dst string
		runes    []rune
	}{
		{"400Regular/NotoSansSC_400Regular.ttf", "NotoSansSC-Regular.subset.ttf.gz", regular},
		{"700Bold/NotoSansSC_700Bold.ttf", "NotoSansSC-Bold.subset.ttf.gz", bold},
	} {
		ttf, err := subset(*python, filepath.Join(*from, cut.src), cut.runes)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // no name or time in the header: reproducible
		zw.Write(ttf)
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress %s: %w", cut.dst, err)
		}
		if err := os.WriteFile(filepath.Join(*out, cut.dst), gz.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d characters, %d bytes (%d gzip-compressed)\n", cut.dst, len(cut.runes), len(ttf), gz.Len())
	}
	return nil
}

// subset runs fontTools' subsetter on src, keeping runes, without hinting (neither renderer hints) and
// with only the kerning of the layout features.
func subset(python, src string, runes []rune) ([]byte, error) {
	dir, err := os.MkdirTemp("", "fontsubset")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	codes := make([]string, len(runes))
	for i, r := range runes {
		codes[i] = fmt.Sprintf("U+%04X", r)
	}
	list, dst := filepath.Join(dir, "unicodes.txt"), filepath.Join(dir, "out.ttf")
	if err := os.WriteFile(list, []byte(strings.Join(codes, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(python, "-m", "fontTools.subset", src, "--unicodes-file="+list, "--no-hinting",
		"--layout-features=kern", "--output-file="+dst)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("fontTools.subset %s: %w\n%s", src, err, msg)
	}
	return os.ReadFile(dst)
}

// latin is printable ASCII, Latin-1, general punctuation (– — ‘ ’ “ ” … •), arrows and shapes the window
// draws (▲ ▼ ✓ ✕), CJK symbols and punctuation, and the full-width forms.
func latin() []rune {
	var rs []rune
	for _, span := range [][2]rune{{0x20, 0x7e}, {0xa0, 0xff}, {0x2000, 0x206f}, {0x2190, 0x21ff}, {0x25a0, 0x25ff},
		{0x2713, 0x2717}, {0x3000, 0x303f}, {0xff00, 0xffef}} {
		for r := span[0]; r <= span[1]; r++ {
			rs = append(rs, r)
		}
	}
	return rs
}

// gb2312 is every character of GB 2312: rows 0xA1–0xF7 by cells 0xA1–0xFE, read with the GBK decoder
// (GBK extends GB 2312 without changing it); codes GB 2312 leaves empty decode to U+FFFD or the
// private use area and are dropped.
func gb2312() []rune {
	dec := simplifiedchinese.GBK.NewDecoder()
	var rs []rune
	for hi := 0xa1; hi <= 0xf7; hi++ {
		for lo := 0xa1; lo <= 0xfe; lo++ {
			b, err := dec.Bytes([]byte{byte(hi), byte(lo)})
			if err != nil {
				continue
			}
			for _, r := range string(b) {
				if r != 0xfffd && (r < 0xe000 || r > 0xf8ff) {
					rs = append(rs, r)
				}
			}
		}
	}
	return rs
}

// translationRunes are the characters of every translation file.
func translationRunes() ([]rune, error) {
	files, err := fs.Glob(translations.FS, "*.json")
	if err != nil {
		return nil, err
	}
	var rs []rune
	for _, f := range files {
		b, err := fs.ReadFile(translations.FS, f)
		if err != nil {
			return nil, err
		}
		for _, r := range string(b) {
			if r >= 0x20 {
				rs = append(rs, r)
			}
		}
	}
	return rs, nil
}

// union is the sorted set of the runes of all lists.
func union(lists ...[]rune) []rune {
	seen := map[rune]bool{}
	var out []rune
	for _, l := range lists {
		for _, r := range l {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}
