//go:build unix

package proctest_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke/internal/proctest"
)

// recorder is a testing.TB that keeps the failures and logs a Process
// reports, so that tests can check them, and runs cleanups when told to.
type recorder struct {
	testing.TB // the real test, for what recorder does not override

	errors   []string
	logs     []string
	cleanups []func()
}

// newRecorder returns a recorder whose pending cleanups run at the end of
// t at the latest, so that no process outlives a test that failed early.
func newRecorder(t *testing.T) *recorder {
	r := &recorder{TB: t}
	t.Cleanup(r.finish)
	return r
}

func (r *recorder) Helper()          {}
func (r *recorder) Failed() bool     { return len(r.errors) > 0 }
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatal(args ...any) {
	r.errors = append(r.errors, fmt.Sprint(args...))
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// run calls f on a goroutine of its own, as a test body runs, so that a
// Fatal ends f alone, and reports whether f returned.
func (r *recorder) run(f func()) (returned bool) {
	done := make(chan bool)
	go func() {
		ok := false
		defer func() { done <- ok }()
		f()
		ok = true
	}()
	return <-done
}

// finish runs the cleanups, the last registered first, as the end of a
// test does.
func (r *recorder) finish() {
	for len(r.cleanups) > 0 {
		f := r.cleanups[len(r.cleanups)-1]
		r.cleanups = r.cleanups[:len(r.cleanups)-1]
		r.run(f)
	}
}

// expect fails t unless the recorder holds exactly the failures want,
// each given as a part of its message.
func (r *recorder) expect(t *testing.T, want ...string) {
	t.Helper()
	if len(r.errors) != len(want) {
		t.Fatalf("reported failures %q; want %d of them, saying %q", r.errors, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(r.errors[i], w) {
			t.Errorf("failure %d is %q; want it to say %q", i, r.errors[i], w)
		}
	}
}

// shell returns a command running script with sh.
func shell(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sh is not installed (CI is set, so this is an error): %v", err)
		}
		t.Skipf("sh is not installed: %v", err)
	}
	return exec.Command(sh, "-c", script)
}

// exitStatus returns the exit status in err, or -1 if err does not hold
// one.
func exitStatus(err error) int {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return -1
	}
	return exitErr.ExitCode()
}

// waitingScript says ready, then waits until it receives signal, which
// it reports on standard error before it exits with status 3. The shell
// runs the trap once the short sleep in progress ends: a trap cannot
// interrupt a long one, and may miss the signal if it comes just before
// the shell waits for a sleep in the background.
func waitingScript(signal string) string {
	return fmt.Sprintf(`trap 'echo got %[1]s >&2; exit 3' %[1]s
echo ready
while :; do sleep 0.1; done`, signal)
}

func TestProcessStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *proctest.Options
	}{
		{"INT", nil},
		{"TERM", &proctest.Options{Signal: syscall.SIGTERM}},
		{"QUIT", &proctest.Options{Signal: syscall.SIGQUIT, StopTimeout: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRecorder(t)
			cmd := shell(t, waitingScript(tc.name))
			var p *proctest.Process
			if !r.run(func() {
				p = proctest.Start(r, cmd, tc.opts)
				if line := p.FirstLine(r, time.Minute); line != "ready" {
					t.Errorf("first line %q; want %q", line, "ready")
				}
			}) {
				t.Fatalf("the process did not start: %q", r.errors)
			}
			select {
			case <-p.Exited():
				t.Fatalf("Exited is closed before Stop; Err() = %v", p.Err())
			default:
			}
			if err := p.Err(); err != nil {
				t.Errorf("Err() = %v while the process runs; want nil", err)
			}

			err := p.Stop(r)
			if exitStatus(err) != 3 {
				t.Errorf("Stop = %v; want exit status 3, from the trap for SIG%s", err, tc.name)
			}
			select {
			case <-p.Exited():
			default:
				t.Error("Exited is open after Stop returned")
			}
			if p.Err() != err {
				t.Errorf("Err() = %v; want %v, as Stop returned", p.Err(), err)
			}
			if again := p.Stop(r); again != err {
				t.Errorf("second Stop = %v; want %v again", again, err)
			}
			if got, want := p.Stderr.String(), "got "+tc.name+"\n"; got != want {
				t.Errorf("stderr %q; want %q", got, want)
			}
			r.finish()
			r.expect(t)
			if len(r.logs) != 0 {
				t.Errorf("logged %q for a test that passed", r.logs)
			}
		})
	}
}

func TestProcessStopKills(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	// exec keeps the signal ignored in the process Stop must kill.
	cmd := shell(t, "trap '' TERM; echo ready; exec sleep 60")
	var p *proctest.Process
	var err error
	r.run(func() {
		p = proctest.Start(r, cmd, &proctest.Options{Signal: syscall.SIGTERM, StopTimeout: 100 * time.Millisecond})
		p.FirstLine(r, time.Minute) // the trap is set
		err = p.Stop(r)
	})
	r.expect(t, "killing it")
	if !killed(err) {
		t.Errorf("Stop = %v; want the process killed", err)
	}
}

// killed reports whether err says that SIGKILL ended the process.
func killed(err error) bool {
	var exitErr *exec.ExitError
	return errors.As(err, &exitErr) && exitErr.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
}

func TestProcessKill(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	// The process would outlast its stop signal: only a kill ends it.
	cmd := shell(t, "trap '' INT; echo ready; exec sleep 60")
	var p *proctest.Process
	r.run(func() {
		p = proctest.Start(r, cmd, nil)
		p.FirstLine(r, time.Minute) // the trap is set
	})
	err := p.Kill()
	if !killed(err) {
		t.Errorf("Kill = %v; want the process killed", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Exited is open after Kill returned")
	}
	if again := p.Kill(); again != err {
		t.Errorf("second Kill = %v; want %v again", again, err)
	}
	r.finish()
	r.expect(t) // the cleanup finds the process gone
}

func TestProcessFirstLine(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	// The process may be gone before FirstLine looks: the line counts.
	cmd := shell(t, "echo only line")
	r.run(func() {
		p := proctest.Start(r, cmd, nil)
		for i := range 2 {
			if line := p.FirstLine(r, time.Minute); line != "only line" {
				t.Errorf("call %d: first line %q; want %q", i, line, "only line")
			}
		}
	})
	r.finish()
	r.expect(t)
}

func TestProcessFirstLineExit(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	cmd := shell(t, "echo no port for me >&2; exit 2")
	if r.run(func() {
		p := proctest.Start(r, cmd, nil)
		p.FirstLine(r, time.Minute)
	}) {
		t.Error("FirstLine returned for a process that wrote no line")
	}
	r.finish()
	r.expect(t, "exited before it wrote a line: exit status 2")
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "no port for me") {
		t.Errorf("logged %q; want the process's stderr, as the test failed", r.logs)
	}
}

func TestProcessFirstLineTimeout(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	cmd := shell(t, "exec sleep 60")
	var p *proctest.Process
	if r.run(func() {
		p = proctest.Start(r, cmd, nil)
		p.FirstLine(r, 10*time.Millisecond)
	}) {
		t.Error("FirstLine returned for a process that wrote nothing")
	}
	r.expect(t, "wrote no line within 10ms")
	r.finish()
	select {
	case <-p.Exited():
	default:
		t.Error("the process runs on after the cleanup")
	}
}

func TestProcessWait(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	cmd := shell(t, "exit 5")
	var err error
	r.run(func() { err = proctest.Start(r, cmd, nil).Wait(r, time.Minute) })
	if exitStatus(err) != 5 {
		t.Errorf("Wait = %v; want exit status 5", err)
	}
	r.finish()
	r.expect(t)
}

func TestProcessWaitTimeout(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	cmd := shell(t, "exec sleep 60")
	if r.run(func() { proctest.Start(r, cmd, nil).Wait(r, 10*time.Millisecond) }) {
		t.Error("Wait returned for a process still running")
	}
	r.expect(t, "still running after 10ms")
}

func TestProcessCheckRaces(t *testing.T) {
	for _, check := range []bool{false, true} {
		t.Run(fmt.Sprint("CheckRaces=", check), func(t *testing.T) {
			t.Parallel()
			r := newRecorder(t)
			cmd := shell(t, "echo ready; echo ================== >&2; echo 'WARNING: DATA RACE' >&2")
			r.run(func() {
				p := proctest.Start(r, cmd, &proctest.Options{CheckRaces: check})
				p.Wait(r, time.Minute)
			})
			r.finish()
			if check {
				r.expect(t, "reported a data race:\n==================\nWARNING: DATA RACE\n")
			} else {
				r.expect(t)
			}
		})
	}
}

func TestProcessOwnWriters(t *testing.T) {
	t.Parallel()
	t.Run("one Buffer", func(t *testing.T) {
		r := newRecorder(t)
		cmd := shell(t, "echo out; echo err >&2")
		out := new(proctest.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		var p *proctest.Process
		r.run(func() {
			p = proctest.Start(r, cmd, nil)
			p.Wait(r, time.Minute)
		})
		r.expect(t)
		if p.Stdout != out || p.Stderr != out {
			t.Errorf("Stdout, Stderr = %p, %p; want the caller's Buffer %p for both", p.Stdout, p.Stderr, out)
		}
		if got := out.String(); got != "out\nerr\n" {
			t.Errorf("output %q; want both streams", got)
		}
	})
	t.Run("other writer", func(t *testing.T) {
		r := newRecorder(t)
		cmd := shell(t, "echo out")
		var out bytes.Buffer
		cmd.Stdout = &out
		var p *proctest.Process
		if r.run(func() {
			p = proctest.Start(r, cmd, nil)
			p.Wait(r, time.Minute)
			p.FirstLine(r, time.Minute)
		}) {
			t.Error("FirstLine returned without a Buffer to read")
		}
		r.expect(t, "other than a *proctest.Buffer")
		if p.Stdout != nil || p.Stderr == nil {
			t.Errorf("Stdout, Stderr = %p, %p; want nil for the caller's writer and a Buffer for the other", p.Stdout, p.Stderr)
		}
		if out.String() != "out\n" {
			t.Errorf("the caller's writer has %q", out.String())
		}
	})
}

func TestStartFails(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	cmd := exec.Command("/nonexistent/prog")
	if r.run(func() { proctest.Start(r, cmd, nil) }) {
		t.Error("Start returned for a program that does not exist")
	}
	r.expect(t, "/nonexistent/prog")
	if len(r.cleanups) != 0 {
		t.Errorf("Start registered %d cleanups for a process that never ran", len(r.cleanups))
	}
}
