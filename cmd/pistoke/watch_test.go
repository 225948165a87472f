package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	root := filepath.FromSlash("/src/app")
	w := &watcher{root: root, static: filepath.Join(root, "static")}
	tests := map[string]fileKind{
		"main.go":                 sourceFile,
		"templates/index.html":    sourceFile,
		"internal/db/db.go":       sourceFile,
		"go.mod":                  sourceFile,
		"static/style.css":        staticFile,
		"static/js/app.js":        staticFile,
		"main_test.go":            ignoredFile,
		".main.go.swp":            ignoredFile,
		"main.go~":                ignoredFile,
		"4913":                    ignoredFile,
		".git/index":              ignoredFile,
		"testdata/golden.txt":     ignoredFile,
		"node_modules/x/index.js": ignoredFile,
		"_build/out":              ignoredFile,
		"../other/main.go":        ignoredFile,
	}
	for rel, want := range tests {
		if got := w.classify(filepath.Join(root, filepath.FromSlash(rel))); got != want {
			t.Errorf("classify(%s) = %d; want %d", rel, got, want)
		}
	}
}

func TestChangeBatch(t *testing.T) {
	var c change
	c.add("/s/a.css", staticFile)
	c.add("/s/b.css", staticFile)
	if !c.static || !c.cssOnly || c.rebuild {
		t.Errorf("two stylesheets: %+v", c)
	}
	c.add("/s/app.js", staticFile)
	if c.cssOnly {
		t.Error("a script change counted as stylesheets only")
	}
	c.add("/main.go", sourceFile)
	if !c.rebuild {
		t.Error("a source change did not ask for a rebuild")
	}
}

// A burst of writes to several files arrives as one batch, and files in a
// directory created after the start are watched.
func TestWatcherBatches(t *testing.T) {
	root := t.TempDir()
	static := filepath.Join(root, "static")
	if err := os.Mkdir(static, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := newWatcher(root, static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()

	for _, name := range []string{"a.go", "b.go", "static/s.css"} {
		writeTestFile(t, filepath.Join(root, name), "x")
	}
	c := receive(t, w)
	if !c.rebuild || !c.static || !c.cssOnly {
		t.Errorf("batch %+v; want a rebuild and a stylesheet change", c)
	}

	sub := filepath.Join(root, "pkg")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, w); !c.rebuild {
		t.Errorf("new directory: %+v; want a rebuild", c)
	}
	writeTestFile(t, filepath.Join(sub, "p.go"), "package pkg")
	if c := receive(t, w); !c.rebuild || c.files[0] != filepath.Join("pkg", "p.go") {
		t.Errorf("file in a new directory: %+v", c)
	}
}

func receive(t *testing.T, w *watcher) change {
	t.Helper()
	select {
	case c := <-w.changes:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
		return change{}
	}
}
