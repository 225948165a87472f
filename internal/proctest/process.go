package proctest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DefaultStopTimeout is how long Stop waits for a process to exit after
// its stop signal when Options.StopTimeout is zero.
const DefaultStopTimeout = 10 * time.Second

// Options says how Start runs a process. The zero value stops the process
// with os.Interrupt, waits DefaultStopTimeout before killing it, and
// ignores what it writes about data races.
type Options struct {
	// Signal asks the process to stop; os.Interrupt if nil. It is the
	// signal the program handles to shut down gracefully, such as
	// syscall.SIGQUIT for nginx.
	Signal os.Signal

	// StopTimeout is how long Stop waits after Signal before it kills the
	// process; DefaultStopTimeout if zero.
	StopTimeout time.Duration

	// CheckRaces fails the test when the process's standard error shows
	// a report from the race detector, which a program built by Build
	// under go test -race writes without changing its exit status.
	CheckRaces bool
}

// Process is a program a test runs with Start. It lives until the test
// ends, or until the test stops or kills it or the program exits by
// itself.
type Process struct {
	// Cmd is the started command. Tests send it signals of their own
	// through Cmd.Process.
	Cmd *exec.Cmd

	// Stdout and Stderr collect what the process writes. They are the
	// same Buffer when the caller assigned one to both streams, and nil
	// for a stream the caller sent to a writer other than a *Buffer.
	Stdout *Buffer
	Stderr *Buffer

	name   string
	opts   Options
	exited chan struct{}
	err    error // what Cmd.Wait returned; written before exited is closed

	first    string // the first line of Stdout, once FirstLine has it
	hasFirst bool
}

// Start starts cmd and returns the running process. Standard output and
// standard error the caller left nil are collected in new Buffers; a
// *Buffer the caller assigned is used as it is, so that both streams can
// share one. If cmd.WaitDelay is zero, Start sets it to the stop timeout,
// so that a child the process leaves running with its output cannot hold
// up the end of the test.
//
// When the test ends, Start's cleanup stops the process as Stop does,
// logs its standard error if the test failed, and, with opts.CheckRaces,
// fails the test if the process reported a data race. A nil opts means
// the zero Options.
//
// Start fails the test if cmd cannot start, so it must be called from the
// goroutine running the test.
func Start(t testing.TB, cmd *exec.Cmd, opts *Options) *Process {
	t.Helper()
	p := &Process{
		Cmd:    cmd,
		name:   filepath.Base(cmd.Path),
		exited: make(chan struct{}),
	}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.Signal == nil {
		p.opts.Signal = os.Interrupt
	}
	if p.opts.StopTimeout == 0 {
		p.opts.StopTimeout = DefaultStopTimeout
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = p.opts.StopTimeout
	}
	p.Stdout = collect(&cmd.Stdout)
	p.Stderr = collect(&cmd.Stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if p.Stderr == nil {
			return
		}
		log := p.Stderr.String()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, log)
		}
		if p.opts.CheckRaces && strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", p.name, log)
		}
	})
	return p
}

// collect returns the Buffer that *w writes to, making one if *w is nil,
// or nil if *w is some other writer.
func collect(w *io.Writer) *Buffer {
	if *w == nil {
		*w = new(Buffer)
	}
	b, _ := (*w).(*Buffer)
	return b
}

// Exited returns a channel that is closed once the process has exited and
// its output has been collected.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err returns what exec.Cmd.Wait reported for the process, such as an
// *exec.ExitError for a non-zero status, once Exited is closed; before
// that it returns nil.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Stop sends the process its stop signal and waits for it to exit. If it
// is still running after the stop timeout, Stop reports that as a test
// error and kills it. Stop returns what Err returns once the process is
// gone; for a process that had already exited it just returns that.
//
// Start arranges for Stop at the end of the test; a test calls it earlier
// to check what a stopped process wrote or how it exited.
func (p *Process) Stop(t testing.TB) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	default:
	}
	p.Cmd.Process.Signal(p.opts.Signal)
	select {
	case <-p.exited:
	case <-time.After(p.opts.StopTimeout):
		t.Errorf("%s still running %v after signal %q; killing it", p.name, p.opts.StopTimeout, p.opts.Signal)
		p.Kill()
	}
	return p.err
}

// Kill kills the process at once, as a crash would, waits for it to exit
// and returns what Err returns then. A test kills a server to see how its
// clients take the loss; killing a process that has exited does nothing.
func (p *Process) Kill() error {
	select {
	case <-p.exited:
	default:
		p.Cmd.Process.Kill() // fails harmlessly if the process has just exited
		<-p.exited
	}
	return p.err
}

// Wait waits for the process to exit by itself, as after a signal the
// test sent, and returns what Err returns. It fails the test if the
// process is still running after timeout.
func (p *Process) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v", p.name, timeout)
		return nil
	}
}

// FirstLine waits for the first line the process writes to its standard
// output and returns it without its newline; servers say there where
// they listen. It fails the test if the process exits first or writes no
// line within timeout, or if Start does not collect its standard output.
// Later calls return the same line.
func (p *Process) FirstLine(t testing.TB, timeout time.Duration) string {
	t.Helper()
	if p.hasFirst {
		return p.first
	}
	if p.Stdout == nil {
		t.Fatalf("%s: standard output goes to a writer other than a *proctest.Buffer", p.name)
	}
	select {
	case p.first = <-p.Stdout.FirstLine():
		p.hasFirst = true
	case <-p.exited:
		// The line may have come with the exit.
		select {
		case p.first = <-p.Stdout.FirstLine():
			p.hasFirst = true
		default:
			t.Fatalf("%s exited before it wrote a line: %v", p.name, p.err)
		}
	case <-time.After(timeout):
		t.Fatalf("%s wrote no line within %v", p.name, timeout)
	}
	return p.first
}
