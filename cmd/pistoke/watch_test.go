package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
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

// Changes in the watched tree arrive, files in a directory created after
// the start included. (How events make batches is TestWatcherDebounce's
// business: here the file system's pace decides.)
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
	var all change
	for len(all.files) < 3 {
		c := receive(t, w)
		for _, f := range c.files {
			all.add(f, w.classify(filepath.Join(root, f)))
		}
	}
	if !all.rebuild || !all.static || !all.cssOnly {
		t.Errorf("changes %+v; want a.go, b.go and static/s.css", all)
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

// Events make one batch until the files have been quiet for debounce;
// a batch waits for the loop's reader. Time here is synctest's.
func TestWatcherDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := filepath.FromSlash("/src/app")
		events := make(chan fsnotify.Event)
		w := &watcher{
			events:  events,
			errors:  make(chan error),
			root:    root,
			static:  filepath.Join(root, "static"),
			logger:  slog.New(slog.DiscardHandler),
			changes: make(chan change),
			stop:    make(chan struct{}),
		}
		w.wg.Add(1)
		go w.run()
		defer w.close()
		write := func(rel string) {
			events <- fsnotify.Event{Name: filepath.Join(root, filepath.FromSlash(rel)), Op: fsnotify.Write}
		}
		ready := func() (change, bool) {
			synctest.Wait()
			select {
			case c := <-w.changes:
				return c, true
			default:
				return change{}, false
			}
		}

		// A burst, each write within debounce of the one before, is one
		// batch, debounce after the last.
		write("a.go")
		time.Sleep(debounce - time.Millisecond)
		write("static/s.css")
		time.Sleep(debounce - time.Millisecond)
		write("b.go")
		write("main_test.go") // ignored
		time.Sleep(debounce - time.Millisecond)
		if c, ok := ready(); ok {
			t.Fatalf("batch %+v before the files were quiet for %v", c, debounce)
		}
		time.Sleep(time.Millisecond)
		c, ok := ready()
		if !ok {
			t.Fatalf("no batch once the files were quiet for %v", debounce)
		}
		if !c.rebuild || !c.static || !c.cssOnly || len(c.files) != 3 {
			t.Errorf("batch %+v; want a.go, static/s.css and b.go", c)
		}

		// Writes further apart are batches of their own...
		write("static/app.js")
		time.Sleep(debounce)
		c, ok = ready()
		if !ok || c.rebuild || !c.static || c.cssOnly || len(c.files) != 1 {
			t.Errorf("first of two writes apart: %+v, %v; want static/app.js alone", c, ok)
		}
		write("static/s.css")
		time.Sleep(debounce)
		c, ok = ready()
		if !ok || !c.cssOnly || len(c.files) != 1 {
			t.Errorf("second of two writes apart: %+v, %v; want static/s.css alone", c, ok)
		}

		// ...but a batch nobody has taken yet takes the writes that
		// follow, and goes once they are quiet in turn.
		write("static/app.js")
		time.Sleep(debounce)
		synctest.Wait()
		write("main.go")
		time.Sleep(debounce - time.Millisecond)
		if c, ok := ready(); ok {
			t.Fatalf("batch %+v before the last write was quiet for %v", c, debounce)
		}
		time.Sleep(time.Millisecond)
		c, ok = ready()
		if !ok || !c.rebuild || !c.static || len(c.files) != 2 {
			t.Errorf("batch taken late: %+v, %v; want static/app.js and main.go", c, ok)
		}
		if c, ok := ready(); ok {
			t.Errorf("one batch too many: %+v", c)
		}
	})
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
