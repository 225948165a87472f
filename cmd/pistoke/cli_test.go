package main

import (
	"bufio"
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
	cliDir  string
)

// buildCLI builds the pistoke command once for all tests.
func buildCLI(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not in PATH")
	}
	cliOnce.Do(func() {
		cliDir, cliErr = os.MkdirTemp("", "pistoke-cli-")
		if cliErr != nil {
			return
		}
		cliPath = filepath.Join(cliDir, "pistoke"+exeSuffix)
		out, err := exec.Command("go", "build", "-o", cliPath, ".").CombinedOutput()
		if err != nil {
			cliErr = &buildError{out: string(out), err: err}
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

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

// edit replaces old with new in the file, which must contain it once.
func edit(t *testing.T, name, old, new string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s holds %q %d times; want once", name, old, n)
	}
	writeTestFile(t, name, strings.Replace(string(data), old, new, 1))
}

// cli is a running pistoke command.
type cli struct {
	cmd    *exec.Cmd
	url    string
	stderr *proctest.Buffer
	done   chan error
}

// startCLI runs pistoke with args in dir and waits for its listening
// line.
func startCLI(t *testing.T, dir string, args ...string) *cli {
	t.Helper()
	c := &cli{cmd: exec.Command(buildCLI(t), args...), stderr: new(proctest.Buffer), done: make(chan error, 1)}
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "NO_COLOR=1")
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), devserver.ListeningPrefix); ok {
				select {
				case lines <- u:
				default:
				}
			}
		}
		close(lines)
		c.done <- c.cmd.Wait()
	}()
	t.Cleanup(func() { c.stop(t) })
	timeout := time.NewTimer(3 * time.Minute)
	defer timeout.Stop()
	select {
	case u, ok := <-lines:
		if !ok {
			t.Fatalf("pistoke %s ended without listening:\n%s", strings.Join(args, " "), c.stderr)
		}
		c.url = u
	case <-timeout.C:
		t.Fatalf("pistoke %s did not listen:\n%s", strings.Join(args, " "), c.stderr)
	}
	return c
}

// stop interrupts the command as Ctrl-C would and returns its exit
// status.
func (c *cli) stop(t *testing.T) int {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGINT) // fails harmlessly once it has exited
	select {
	case err := <-c.done:
		c.done <- err
		return exitStatus(err)
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		t.Errorf("pistoke did not stop on SIGINT:\n%s", c.stderr)
		return -1
	}
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
