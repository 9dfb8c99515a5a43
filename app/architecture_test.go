package app

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/tokenstats/tokenstats"

// TestArchitecture keeps the package map of docs/architecture.md true: the domain imports nothing of
// the module, wire formats and charts only the domain, the listener never the windows and the windows
// never HTTP; no file of the store grows past what one reader takes in; the doc names every package.
func TestArchitecture(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Name       string
		Imports    []string
		GoFiles    []string
		Dir        string
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		pkgs = append(pkgs, p)
	}
	under := func(path, root string) bool { return path == root || strings.HasPrefix(path, root+"/") }
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		var own []string
		for _, imp := range p.Imports {
			if under(imp, module) {
				own = append(own, strings.TrimPrefix(strings.TrimPrefix(imp, module), "/"))
			}
		}
		allowed := func(ok func(string) bool, rule string) {
			for _, imp := range own {
				if !ok(imp) {
					t.Errorf("%s imports %s: %s", p.ImportPath, imp, rule)
				}
			}
		}
		switch {
		case p.ImportPath == "stats":
			allowed(func(string) bool { return false }, "the domain imports nothing of the module")
		case under(p.ImportPath, "usage"), p.ImportPath == "pricing", p.ImportPath == "chart":
			root := strings.Split(p.ImportPath, "/")[0]
			allowed(func(i string) bool { return i == "stats" || under(i, root) },
				"wire formats, prices and charts import only stats and their own packages")
		case under(p.ImportPath, "localapi"):
			allowed(func(i string) bool { return !under(i, "ui") }, "the listener never imports the windows")
			if p.Name == "main" {
				t.Errorf("%s is a main package inside the listener: tools go under cmd/", p.ImportPath)
			}
		case under(p.ImportPath, "ui"):
			allowed(func(i string) bool { return !under(i, "localapi") }, "the windows know no HTTP")
		}
		for _, imp := range p.Imports {
			if imp == "net/http" && (p.ImportPath == "stats" || under(p.ImportPath, "ui")) {
				t.Errorf("%s imports net/http", p.ImportPath)
			}
		}
		if p.ImportPath == "stats" {
			for _, f := range p.GoFiles {
				if n := lines(t, filepath.Join(p.Dir, f)); n > 450 {
					t.Errorf("stats/%s has %d lines: split it by job (at most ~450)", f, n)
				}
			}
		}
		if p.ImportPath != "" && !strings.Contains(string(doc), "`"+p.ImportPath+"`") &&
			!strings.Contains(string(doc), "`"+filepath.Base(p.ImportPath)+"`") {
			t.Errorf("docs/architecture.md does not name %s", p.ImportPath)
		}
	}
}

func lines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}
