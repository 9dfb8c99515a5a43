// Package fonts holds the typeface Token Stats draws its window and charts with, so Chinese renders on a
// machine without a CJK font: Noto Sans SC (SIL Open Font License 1.1, OFL.txt), cut down by
// cmd/fontsubset to GB 2312 and Latin (regular) and to Latin and the translations' characters (bold),
// and stored gzip-compressed. docs/decisions.md says why this font and these cuts; cmd/fontsubset says
// how to make them again.
package fonts

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
)

//go:embed NotoSansSC-Regular.subset.ttf.gz NotoSansSC-Bold.subset.ttf.gz OFL.txt
var files embed.FS

// Family is the font's family name, as its name table and CSS know it.
const Family = "Noto Sans SC"

// Regular is the regular weight as TrueType bytes. Each call decompresses it (about 2.3 MB): keep the result.
func Regular() ([]byte, error) { return unzip("NotoSansSC-Regular.subset.ttf.gz") }

// Bold is the bold weight as TrueType bytes; it holds Latin and the translations' characters only.
func Bold() ([]byte, error) { return unzip("NotoSansSC-Bold.subset.ttf.gz") }

// RegularGzip is the regular weight as stored, gzip-compressed, for HTTP clients that accept gzip.
func RegularGzip() []byte { return embedded("NotoSansSC-Regular.subset.ttf.gz") }

// License is the font's licence, to ship beside it.
func License() []byte { return embedded("OFL.txt") }

func unzip(name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(embedded(name)))
	if err != nil {
		return nil, fmt.Errorf("font %s: %w", name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("font %s: %w", name, err)
	}
	return b, nil
}

// embedded reads a file of the package, which go:embed guarantees is there.
func embedded(name string) []byte {
	b, _ := files.ReadFile(name)
	return b
}
