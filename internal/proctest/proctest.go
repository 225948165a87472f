// Package proctest supports tests that drive programs as real processes:
// it builds a package into a binary, runs it for the length of a test,
// collects what it writes, and hands over the first line it prints,
// which is where the servers in this repository say where they listen.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// Build compiles the main package in dir into a binary called name, in a
// new temporary directory, and returns the binary's path and a function
// that removes that directory. Tests call it once, from TestMain, and run
// the binary as often as they like.
//
// The binary is built with the race detector when the test binary calling
// Build was (see RaceEnabled), so that the tests find races in the program
// as well as in themselves.
//
// A failed compilation is reported as a *BuildError; on any error nothing
// is left behind.
func Build(dir, name string) (bin string, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(tmp, name)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	args := []string{"build", "-o", bin}
	if RaceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, ".")
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", nil, &BuildError{Args: args, Output: string(out), Err: err}
	}
	return bin, func() { os.RemoveAll(tmp) }, nil
}

// TestingM is what BuildAndRun needs of a *testing.M.
type TestingM interface {
	Run() (code int)
}

// BuildAndRun serves a TestMain whose tests run the program they test.
// It builds the main package in dir into a binary called name, as Build
// does, stores the binary's path in *bin, runs the tests and removes the
// binary. It returns the code for os.Exit: the tests' own, or 1 if the
// build failed, which it reports on standard error.
//
//	func TestMain(m *testing.M) {
//		os.Exit(proctest.BuildAndRun(m, ".", "rooms", &serverBin))
//	}
func BuildAndRun(m TestingM, dir, name string, bin *string) int {
	path, cleanup, err := Build(dir, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	*bin = path
	return m.Run()
}

// goTool returns the go command. The go command puts its own GOROOT/bin
// first in the PATH of the tests it runs; the fallback serves test
// binaries run by hand.
func goTool() string {
	if path, err := exec.LookPath("go"); err == nil {
		return path
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// BuildError reports that the go command could not build a binary.
type BuildError struct {
	Args   []string // the arguments of the go command
	Output string   // what it printed: the compiler's complaints
	Err    error    // how it ended, usually an *exec.ExitError
}

func (e *BuildError) Error() string {
	return "go " + strings.Join(e.Args, " ") + ": " + e.Err.Error() + "\n" + e.Output
}

func (e *BuildError) Unwrap() error { return e.Err }

// Command returns exec.Command(name, args...) for a binary from Build. A
// binary built with the race detector sleeps a second before it exits;
// Command has GORACE skip that sleep, so that stopping a process costs a
// test no time, unless the environment sets GORACE already.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if _, set := os.LookupEnv("GORACE"); !set {
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	}
	return cmd
}

// RaceEnabled reports whether the running binary was built with the race
// detector, as a test binary is under go test -race.
func RaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Buffer collects a process's output while it runs: assign it to an
// exec.Cmd's Stdout or Stderr and read it with String at any time. It is
// safe for concurrent use, and its zero value is an empty buffer.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   int          // the length of the complete lines in buf
	waiting []lineWaiter // channels still waiting for their line
	first   chan string  // FirstLine's channel; made on demand
}

// A lineWaiter is a channel waiting for the first line holding substr.
type lineWaiter struct {
	substr string
	c      chan string // one slot: it receives once, so Write never blocks
}

// find sends w the first of the complete lines in text that holds
// w.substr, and reports whether there was one.
func (w lineWaiter) find(text []byte) bool {
	for line := range bytes.Lines(text) {
		line = line[:len(line)-1] // the newline
		if bytes.Contains(line, []byte(w.substr)) {
			w.c <- string(line)
			return true
		}
	}
	return false
}

// Write appends p to the buffer. It always returns len(p), nil.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		done := b.buf.Bytes()[b.lines : b.buf.Len()-len(p)+i+1]
		b.lines += len(done)
		b.waiting = slices.DeleteFunc(b.waiting, func(w lineWaiter) bool { return w.find(done) })
	}
	return n, err
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FirstLine returns a channel that receives the first line written to
// the buffer, without its newline, once that line is complete. Servers
// print where they listen on their first line, so a test waits on this
// channel, alongside the process's exit and a deadline, before it
// connects, as Process.FirstLine does.
//
// Every call returns the same channel, which receives a single value:
// only one receive gets the line.
func (b *Buffer) FirstLine() <-chan string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first == nil {
		b.first = b.await("")
	}
	return b.first
}

// LineContaining returns a channel that receives the first complete line
// written to the buffer that contains substr, without its newline; lines
// written before the call count. A test waits on it for a program that
// says it is ready after other lines, as redis-server does once it
// accepts connections.
//
// Each call returns a new channel, which receives a single value.
func (b *Buffer) LineContaining(substr string) <-chan string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.await(substr)
}

// await returns a channel for the first complete line holding substr,
// sending it the line at once if the buffer has it; b.mu is held.
func (b *Buffer) await(substr string) chan string {
	w := lineWaiter{substr: substr, c: make(chan string, 1)}
	if !w.find(b.buf.Bytes()[:b.lines]) {
		b.waiting = append(b.waiting, w)
	}
	return w.c
}
