package proctest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pistoke/pistoke/internal/proctest"
)

// writeModule writes a module holding one main package with the given
// source and returns its directory.
func writeModule(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"go.mod":  "module example.com/greeter\n\ngo 1.25\n",
		"main.go": src,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// builtWithRace reports what the go command says of how bin was built.
func builtWithRace(t *testing.T, bin string) bool {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m %s: %v\n%s", bin, err, out)
	}
	return strings.Contains(string(out), "\tbuild\t-race=true\n")
}

func TestRaceEnabled(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := proctest.RaceEnabled(), builtWithRace(t, self); got != want {
		t.Errorf("RaceEnabled() = %v; the go command says the test binary was built with -race=%v", got, want)
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, `package main

import "fmt"

func main() { fmt.Println("greeter listening on 127.0.0.1:1"); fmt.Println("bye") }
`)
	bin, cleanup, err := proctest.Build(dir, "greeter")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if got, want := builtWithRace(t, bin), proctest.RaceEnabled(); got != want {
		t.Errorf("binary built with -race=%v; want %v, as the test binary", got, want)
	}

	cmd := proctest.Command(bin)
	stdout := new(proctest.Buffer)
	cmd.Stdout = stdout
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-stdout.FirstLine():
		if line != "greeter listening on 127.0.0.1:1" {
			t.Errorf("first line %q", line)
		}
	default:
		t.Errorf("no first line; output %q", stdout)
	}

	cleanup()
	if _, err := os.Stat(bin); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after cleanup the binary is still there: %v", err)
	}
}

func TestBuildError(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, "package main\n\nfunc main() { undefinedGreeting() }\n")
	bin, cleanup, err := proctest.Build(dir, "greeter")
	var be *proctest.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build = %q, %v; want a *BuildError", bin, err)
	}
	if cleanup != nil {
		t.Error("Build returned a cleanup function along with its error")
	}
	if !strings.Contains(be.Output, "undefinedGreeting") || !strings.Contains(err.Error(), "undefinedGreeting") {
		t.Errorf("the error does not show the compiler's complaint: %v", err)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Errorf("error %v does not wrap the go command's *exec.ExitError", err)
	}
}

func TestCommand(t *testing.T) {
	t.Run("GORACE unset", func(t *testing.T) {
		t.Setenv("GORACE", "") // restores the variable afterwards
		os.Unsetenv("GORACE")
		cmd := proctest.Command("prog", "-v")
		if !slices.Equal(cmd.Args, []string{"prog", "-v"}) {
			t.Errorf("Args = %q", cmd.Args)
		}
		if len(cmd.Env) == 0 || cmd.Env[len(cmd.Env)-1] != "GORACE=atexit_sleep_ms=0" {
			t.Errorf("Env does not end with GORACE=atexit_sleep_ms=0: %q", cmd.Env)
		}
	})
	t.Run("GORACE set", func(t *testing.T) {
		t.Setenv("GORACE", "halt_on_error=1")
		if cmd := proctest.Command("prog"); cmd.Env != nil {
			t.Errorf("Env = %q; want the environment inherited as it is", cmd.Env)
		}
	})
}

func TestBufferFirstLine(t *testing.T) {
	var b proctest.Buffer
	first := b.FirstLine()
	for _, piece := range []string{"listen", "ing on", " :80"} {
		fmt.Fprint(&b, piece)
		select {
		case line := <-first:
			t.Fatalf("first line %q before its newline", line)
		default:
		}
	}
	fmt.Fprint(&b, "\nready\nmore\n")
	select {
	case line := <-first:
		if line != "listening on :80" {
			t.Errorf("first line %q; want %q", line, "listening on :80")
		}
	default:
		t.Fatal("no first line after its newline")
	}
	fmt.Fprint(&b, "later\n")
	select {
	case line := <-b.FirstLine():
		t.Errorf("a second line came through FirstLine: %q", line)
	default:
	}
	if got, want := b.String(), "listening on :80\nready\nmore\nlater\n"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestBufferFirstLineAskedLate(t *testing.T) {
	var b proctest.Buffer
	fmt.Fprint(&b, "\nsecond\n")
	select {
	case line := <-b.FirstLine():
		if line != "" {
			t.Errorf("first line %q; want it empty", line)
		}
	default:
		t.Fatal("no first line after its newline")
	}
}

func TestBufferLineContaining(t *testing.T) {
	var b proctest.Buffer
	fmt.Fprint(&b, "starting\nReady to accept")
	early := b.LineContaining("start")
	ready := b.LineContaining("Ready")
	across := b.LineContaining("connections\nReady")
	select {
	case line := <-early:
		if line != "starting" {
			t.Errorf("line %q; want %q", line, "starting")
		}
	default:
		t.Error("a line written before the call does not count")
	}
	select {
	case line := <-ready:
		t.Fatalf("line %q before its newline", line)
	default:
	}

	go fmt.Fprint(&b, " connections\nReady again\n")
	if line := <-ready; line != "Ready to accept connections" {
		t.Errorf("line %q; want %q", line, "Ready to accept connections")
	}
	if line := <-b.LineContaining("again"); line != "Ready again" {
		t.Errorf("line %q; want %q", line, "Ready again")
	}
	select {
	case line := <-ready:
		t.Errorf("a second line came through the channel: %q", line)
	case line := <-across:
		t.Errorf("a match across lines: %q", line)
	default:
	}
	if line := <-b.FirstLine(); line != "starting" {
		t.Errorf("first line %q; want %q", line, "starting")
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b proctest.Buffer
	const writers, writes = 4, 100
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range writes {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	line := <-b.FirstLine()
	wg.Wait()
	if line != "line" {
		t.Errorf("first line %q", line)
	}
	if got, want := b.String(), strings.Repeat("line\n", writers*writes); got != want {
		t.Errorf("String() holds %d bytes; want %d", len(got), len(want))
	}
}

// testingM is a proctest.TestingM whose tests are a function.
type testingM func() int

func (f testingM) Run() int { return f() }

func TestBuildAndRun(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, "package main\n\nfunc main() {}\n")
	var bin string
	ran := false
	code := proctest.BuildAndRun(testingM(func() int {
		ran = true
		if _, err := os.Stat(bin); err != nil {
			t.Errorf("while the tests run, the binary is not there: %v", err)
		}
		return 3
	}), dir, "greeter", &bin)
	if !ran {
		t.Fatal("BuildAndRun did not run the tests")
	}
	if code != 3 {
		t.Errorf("BuildAndRun = %d; want 3, the tests' code", code)
	}
	if name := strings.TrimSuffix(filepath.Base(bin), ".exe"); name != "greeter" {
		t.Errorf("binary %s; want it called greeter", bin)
	}
	if _, err := os.Stat(bin); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the tests the binary is still there: %v", err)
	}
}

// TestBuildAndRunBuildError swaps os.Stderr, so it must not run in
// parallel with other tests.
func TestBuildAndRunBuildError(t *testing.T) {
	dir := writeModule(t, "package main\n\nfunc main() { undefinedGreeting() }\n")
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	saved := os.Stderr
	os.Stderr = stderr
	var bin string
	code := proctest.BuildAndRun(testingM(func() int {
		t.Error("the tests ran without their binary")
		return 0
	}), dir, "greeter", &bin)
	os.Stderr = saved

	if code != 1 || bin != "" {
		t.Errorf("BuildAndRun = %d and set the binary to %q; want 1 and nothing", code, bin)
	}
	report, err := os.ReadFile(stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "undefinedGreeting") {
		t.Errorf("standard error %q does not show the compiler's complaint", report)
	}
}
