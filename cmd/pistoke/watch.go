package main

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long the file system must stay quiet before a change is
// acted on: editors and formatters write a file in several steps.
const debounce = 150 * time.Millisecond

// change is a batch of file events.
type change struct {
	rebuild bool     // a source file of the program changed
	static  bool     // a file of the static directory changed
	cssOnly bool     // every static file that changed is a stylesheet
	files   []string // some of the files, for the log
}

func (c *change) add(path string, kind fileKind) {
	switch kind {
	case sourceFile:
		c.rebuild = true
	case staticFile:
		if !c.static {
			c.cssOnly = true
		}
		c.static = true
		c.cssOnly = c.cssOnly && strings.EqualFold(filepath.Ext(path), ".css")
	default:
		return
	}
	if len(c.files) < 5 && !slices.Contains(c.files, path) {
		c.files = append(c.files, path)
	}
}

func (c change) describe() string { return strings.Join(c.files, ", ") }

// fileKind says what a changed file means.
type fileKind int

const (
	ignoredFile fileKind = iota
	sourceFile           // rebuild and restart
	staticFile           // reload the pages
)

// watcher watches a module's tree and a static directory, and delivers
// debounced batches of changes.
type watcher struct {
	fsw     *fsnotify.Watcher
	events  <-chan fsnotify.Event // fsw's, or a test's
	errors  <-chan error
	root    string
	static  string
	logger  *slog.Logger
	changes chan change
	stop    chan struct{}
	wg      sync.WaitGroup
}

// newWatcher watches root and static (which may lie inside root, or be
// empty) recursively.
func newWatcher(root, static string, logger *slog.Logger) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{
		fsw:     fsw,
		events:  fsw.Events,
		errors:  fsw.Errors,
		root:    filepath.Clean(root),
		logger:  logger,
		changes: make(chan change),
		stop:    make(chan struct{}),
	}
	if static != "" {
		w.static = filepath.Clean(static)
	}
	for _, dir := range []string{w.root, w.static} {
		if dir == "" {
			continue
		}
		if err := w.addTree(dir); err != nil {
			fsw.Close()
			return nil, err
		}
	}
	w.wg.Add(1)
	go w.run()
	return w, nil
}

func (w *watcher) close() {
	close(w.stop)
	w.wg.Wait()
	if w.fsw != nil {
		w.fsw.Close()
	}
}

// addTree watches dir and the directories under it, but for those the go
// command ignores too.
func (w *watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil // vanished while walking
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && w.skipDir(path) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(path); err != nil {
			return err
		}
		return nil
	})
}

// skipDir reports directories whose contents never matter: hidden ones,
// those the go command skips (_*, testdata), node_modules and vendor —
// unless they are the static directory itself.
func (w *watcher) skipDir(path string) bool {
	if w.static != "" && within(w.static, path) {
		return false
	}
	name := filepath.Base(path)
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
		name == "testdata" || name == "node_modules" || name == "vendor"
}

// classify says what a change to path means.
func (w *watcher) classify(path string) fileKind {
	name := filepath.Base(path)
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".tmp") || name == "4913" {
		return ignoredFile // editors' temporary files
	}
	if w.static != "" && within(w.static, path) {
		return staticFile
	}
	if !within(w.root, path) || strings.HasSuffix(name, "_test.go") {
		return ignoredFile
	}
	for dir := filepath.Dir(path); dir != w.root && within(w.root, dir); dir = filepath.Dir(dir) {
		if w.skipDir(dir) {
			return ignoredFile
		}
	}
	return sourceFile
}

// display names path for the log: relative to the module's root when
// inside it.
func (w *watcher) display(path string) string {
	if rel, err := filepath.Rel(w.root, path); err == nil && within(w.root, path) {
		return rel
	}
	return path
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func (w *watcher) run() {
	defer w.wg.Done()
	var (
		pending change
		quiet   <-chan time.Time
		timer   *time.Timer
		out     chan<- change // nil until the batch is ready
	)
	for {
		select {
		case <-w.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Op&fsnotify.Create != 0 {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !w.skipDir(ev.Name) {
					// Files created with it may have come before the watch:
					// the directory counts as changed itself.
					if err := w.addTree(ev.Name); err != nil {
						w.logger.Warn("cannot watch a new directory", "dir", ev.Name, "error", err.Error())
					}
				}
			}
			kind := w.classify(ev.Name)
			if kind == ignoredFile {
				continue
			}
			pending.add(w.display(ev.Name), kind)
			if timer == nil {
				timer = time.NewTimer(debounce)
			} else {
				timer.Reset(debounce)
			}
			quiet, out = timer.C, nil
		case <-quiet:
			quiet, out = nil, w.changes
		case out <- pending:
			pending, out = change{}, nil
		case err, ok := <-w.errors:
			if !ok {
				return
			}
			w.logger.Warn("watching files", "error", err.Error())
		}
	}
}
