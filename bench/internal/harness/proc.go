package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// ChildEnv is the environment variable that marks the processes a
// Launcher starts. Programs ignore it; a test binary standing in for a
// program uses it to run the program instead of its tests (see
// RunChild).
const ChildEnv = "PISTOKE_BENCH_CHILD"

// RunChild lets a test binary stand in for a program whose entry point
// is main. A harness under test starts its processes from
// os.Executable, which is then the test binary: in such a process,
// RunChild runs main with the process's arguments and exits with its
// status. Elsewhere it returns at once. Call it first in TestMain, as
// harnesstest.Main does.
func RunChild(main Main) {
	if os.Getenv(ChildEnv) != "" {
		os.Exit(main(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// Launcher starts the processes of a measurement: copies of one program,
// usually the running one, each with a subcommand and marked with
// ChildEnv.
type Launcher struct {
	// Exe is the program.
	Exe string
	// Stderr is where the processes' stderr goes: the harness's
	// progress. Writes to it may come from several goroutines at once
	// unless it is an *os.File (see LockedWriter).
	Stderr io.Writer
	// ServerPin and ClientPin are command prefixes that pin a server
	// process, and the processes that measure it, to CPUs; nil for
	// none. Pin sets them.
	ServerPin, ClientPin []string
}

// NewLauncher returns an unpinned Launcher of the running program whose
// processes write their stderr to stderr.
func NewLauncher(stderr io.Writer) (*Launcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &Launcher{Exe: exe, Stderr: stderr}, nil
}

// Pin pins the server processes to CPU 0 and the client processes to
// CPU 1 with taskset, so that the server's Go runtime has a CPU to
// itself and what it measures does not share it. It reports whether it
// did: it does not on a machine with one CPU, or without taskset.
func (l *Launcher) Pin() bool {
	if runtime.NumCPU() < 2 {
		return false
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return false
	}
	l.ServerPin, l.ClientPin = []string{ts, "-c", "0"}, []string{ts, "-c", "1"}
	return true
}

// stopGrace is how long a process may take to exit once told to, and to
// close its output once it has exited.
const stopGrace = 10 * time.Second

// Command prepares a process of the program with args, the first of them
// a subcommand, behind the command prefix pin (ServerPin, ClientPin or
// nil). The process is killed when ctx is done.
func (l *Launcher) Command(ctx context.Context, pin []string, args ...string) *exec.Cmd {
	cmd := PinnedCommand(ctx, pin, l.Exe, args...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = l.Stderr
	cmd.WaitDelay = stopGrace
	return cmd
}

// PinnedCommand is exec.CommandContext of prog with args, behind the
// command prefix pin, such as "taskset -c 1", when there is one. Use it
// for programs other than the running one, such as a broker.
func PinnedCommand(ctx context.Context, pin []string, prog string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), pin...), prog), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// RunJSON runs a process of the program with args behind pin to its end,
// and decodes the JSON it prints on stdout (see Finish) into v. Errors
// start with the subcommand, args[0].
func (l *Launcher) RunJSON(ctx context.Context, pin []string, v any, args ...string) error {
	out, err := l.Command(ctx, pin, args...).Output()
	if err == nil {
		err = json.Unmarshal(out, v)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

// Process is a running process that takes orders, or its cue to leave,
// on its stdin, and answers on its stdout: one line each.
type Process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// Start starts cmd with pipes to its stdin and from its stdout.
func Start(cmd *exec.Cmd) (*Process, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Process{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}, nil
}

// Stdin returns the writer to the process's stdin.
func (p *Process) Stdin() io.Writer { return p.stdin }

// Stdout returns the reader of the process's stdout.
func (p *Process) Stdout() *bufio.Reader { return p.stdout }

// ReadJSON reads a line of JSON from the process's stdout into v.
func (p *Process) ReadJSON(v any) error {
	line, err := p.stdout.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// Stop ends the process: it closes the process's stdin, on which the
// processes of a harness leave, and waits for it to exit. A process that
// has not exited within grace is killed.
func (p *Process) Stop(grace time.Duration) {
	p.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// Server is a running server process of the program, which has said
// where it listens.
type Server struct {
	*Process
	Ready
}

// StartServer starts a server process of the program with args behind
// ServerPin, and waits until it prints its Ready line (see Serve).
func (l *Launcher) StartServer(ctx context.Context, args ...string) (*Server, error) {
	p, err := Start(l.Command(ctx, l.ServerPin, args...))
	if err != nil {
		return nil, err
	}
	s := &Server{Process: p}
	if err := p.ReadJSON(&s.Ready); err != nil {
		p.Stop(stopGrace)
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	return s, nil
}

// Stop ends the server as Process.Stop does, killing it if it has not
// exited within 10 seconds.
func (s *Server) Stop() { s.Process.Stop(stopGrace) }
