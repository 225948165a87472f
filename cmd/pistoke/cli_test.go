package main

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke/devserver"
	"github.com/pistoke/pistoke/internal/proctest"
)

// The tests below run the pistoke command the way a user does: built
// with the go command, on a copy of examples/devapp in a module of its
// own that uses this repository through a replace directive.

// repoRoot is the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
	cliDir  string // removed by TestMain
)

// buildCLI builds the pistoke command once for all tests, with the race
// detector under go test -race.
func buildCLI(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not in PATH")
	}
	cliOnce.Do(func() {
		cliPath, _, cliErr = proctest.Build(".", "pistoke")
		if cliErr == nil {
			cliDir = filepath.Dir(cliPath)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

// copyApp copies examples/devapp into a module of its own and returns its
// directory.
func copyApp(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dst := t.TempDir()
	src := filepath.Join(root, "examples", "devapp")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/devapp\n\ngo 1.25\n\nrequire github.com/pistoke/pistoke v0.0.0\n\nreplace github.com/pistoke/pistoke => " + root + "\n"
	writeTestFile(t, filepath.Join(dst, "go.mod"), gomod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dst, "go.sum"), string(sum))
	return dst
}

func writeTestFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// edit replaces old with new in the file, which must contain it once,
// as replaceFile does.
func edit(t *testing.T, name, old, new string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s holds %q %d times; want once", name, old, n)
	}
	replaceFile(t, name, strings.Replace(string(data), old, new, 1))
}

// replaceFile gives the file named name the contents data in one step,
// by renaming a temporary file over it, as many editors save. Writing
// the file in place would show a watcher an empty file first, and a
// build started in between (the machine may pause the test for longer
// than the watcher's quiet period) would report errors that are not in
// the edit.
func replaceFile(t *testing.T, name, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp") // ignored by the watcher
	writeTestFile(t, tmp, data)
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// cliEnv is added to the environment of the pistoke commands the tests
// run: the go command they start resolves modules from the local cache
// only and ignores any workspace around the temporary modules.
var cliEnv = []string{"GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "NO_COLOR=1"}

// cli is a running pistoke command.
type cli struct {
	proc   *proctest.Process
	url    string
	stderr *proctest.Buffer
}

// startCLI runs pistoke with args in dir and waits for its listening
// line.
func startCLI(t *testing.T, dir string, args ...string) *cli {
	t.Helper()
	cmd := proctest.Command(buildCLI(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), cliEnv...)
	p := proctest.Start(t, cmd, &proctest.Options{Signal: syscall.SIGINT, StopTimeout: time.Minute, CheckRaces: true})
	line := p.FirstLine(t, 3*time.Minute)
	url, ok := strings.CutPrefix(line, devserver.ListeningPrefix)
	if !ok {
		t.Fatalf("pistoke %s printed %q; want its listening line", strings.Join(args, " "), line)
	}
	return &cli{proc: p, url: url, stderr: p.Stderr}
}

// stop interrupts the command as Ctrl-C would and returns its exit
// status.
func (c *cli) stop(t *testing.T) int {
	t.Helper()
	return exitStatus(c.proc.Stop(t))
}

// httpGet fetches url as a browser would and returns the status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	client := &http.Client{Timeout: 2 * time.Minute}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// requireTool skips the test when name is missing, or fails it under CI.
func requireTool(t *testing.T, what, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: %s", what, reason)
	}
	t.Skipf("%s is missing: %s", what, reason)
}
