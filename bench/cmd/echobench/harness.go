package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// config is what the harness measures and how.
type config struct {
	conns    int    // connections of the echo load
	msgs     int    // measured round trips per connection
	warmup   int    // round trips per connection before measuring
	size     int    // message size in bytes
	msgType  string // binary or text
	client   string // client library of the load
	rounds   int    // echo rounds per server
	idle     int    // connections of the idle test, 0 to skip it
	impls    []string
	pin      bool   // pin processes to CPUs with taskset
	profile  string // directory for server profiles, "" for none
	quick    bool
	exe      string        // the program to start the processes from
	timeout  time.Duration // bound on each process
	progress io.Writer     // where progress goes (stderr)
}

// Settings of -quick: enough to go through every step, too little to
// mean anything.
const (
	quickConns  = 4
	quickMsgs   = 300
	quickWarmup = 30
	quickRounds = 1
	quickIdle   = 200
)

func harnessMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseHarnessFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rep, err := runHarness(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "echobench:", err)
		return 1
	}
	rep.command = "echobench " + strings.Join(args, " ")
	rep.write(stdout)
	return 0
}

func parseHarnessFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("echobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: echobench [flags]\n\n"+
			"Measures server CPU per echoed WebSocket message and idle memory per\n"+
			"connection for pistoke and gorilla/websocket on 127.0.0.1, and prints a\n"+
			"markdown report.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg config
	var impls string
	fs.IntVar(&cfg.conns, "conns", 100, "connections of the echo load")
	fs.IntVar(&cfg.msgs, "msgs", 20000, "measured round trips per connection and round")
	fs.IntVar(&cfg.warmup, "warmup", 1000, "round trips per connection before measuring")
	fs.IntVar(&cfg.size, "size", 1024, "message size in bytes")
	fs.StringVar(&cfg.msgType, "type", "binary", "message type: binary or text")
	fs.StringVar(&cfg.client, "client", clientPistoke, "client library of the load processes, the same for every server: pistoke (light enough to keep the server busy) or gorilla")
	fs.IntVar(&cfg.rounds, "rounds", 5, "echo rounds per server, alternating (0 skips the echo test)")
	fs.IntVar(&cfg.idle, "idle", 10000, "connections of the idle memory test (0 skips it)")
	fs.StringVar(&impls, "impls", implPistoke+","+implGorilla, "servers to measure, comma-separated")
	fs.BoolVar(&cfg.pin, "pin", true, "pin the server to CPU 0 and the load to CPU 1 with taskset, when there is one")
	fs.StringVar(&cfg.profile, "profile", "", "after measuring, profile each server (CPU under load, heap and goroutines when idle) into this directory")
	fs.BoolVar(&cfg.quick, "quick", false, fmt.Sprintf("smoke run: %d conns × %d msgs, %d round, %d idle conns, unless set otherwise",
		quickConns, quickMsgs, quickRounds, quickIdle))
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "give up on a process that runs longer than this")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "echobench: unexpected arguments %q\n", fs.Args())
		return cfg, errors.New("unexpected arguments")
	}
	if cfg.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, q := range []struct {
			name string
			p    *int
			v    int
		}{
			{"conns", &cfg.conns, quickConns},
			{"msgs", &cfg.msgs, quickMsgs},
			{"warmup", &cfg.warmup, quickWarmup},
			{"rounds", &cfg.rounds, quickRounds},
			{"idle", &cfg.idle, quickIdle},
		} {
			if !set[q.name] {
				*q.p = q.v
			}
		}
	}
	for _, s := range strings.Split(impls, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.impls = append(cfg.impls, s)
		}
	}
	for _, s := range cfg.impls {
		if s != implPistoke && s != implGorilla {
			fmt.Fprintf(stderr, "echobench: unknown server %q\n", s)
			return cfg, errors.New("unknown server")
		}
	}
	if _, err := messageType(cfg.msgType); err != nil {
		fmt.Fprintln(stderr, "echobench:", err)
		return cfg, err
	}
	if _, err := newDialer(cfg.client); err != nil {
		fmt.Fprintln(stderr, "echobench:", err)
		return cfg, err
	}
	if cfg.conns < 1 || cfg.msgs < 1 || cfg.warmup < 0 || cfg.size < 0 || cfg.rounds < 0 || cfg.idle < 0 {
		fmt.Fprintln(stderr, "echobench: -conns and -msgs must be positive, the other counts not negative")
		return cfg, errors.New("bad counts")
	}
	if cfg.profile != "" {
		// The server processes write the files; make the place theirs too.
		abs, err := filepath.Abs(cfg.profile)
		if err != nil {
			fmt.Fprintln(stderr, "echobench:", err)
			return cfg, err
		}
		cfg.profile = abs
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "echobench:", err)
		return cfg, err
	}
	cfg.exe = exe
	cfg.progress = stderr
	return cfg, nil
}

// report holds every measurement of one run.
type report struct {
	cfg              config
	command          string
	pinned           bool
	serverGOMAXPROCS int
	loadavg          [2]string               // the machine's load average at the start and the end
	echo             map[string][]loadResult // by server, in round order
	idle             map[string]idleResult
	profiles         []string
}

func runHarness(cfg config) (*report, error) {
	// Progress comes from the harness and from its processes' stderr at
	// once.
	cfg.progress = &lockedWriter{w: cfg.progress}
	rep := &report{cfg: cfg, echo: map[string][]loadResult{}, idle: map[string]idleResult{}}
	rep.loadavg[0] = loadAverage()
	defer func() { rep.loadavg[1] = loadAverage() }()
	var serverPin, clientPin []string
	if cfg.pin && runtime.NumCPU() >= 2 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			serverPin, clientPin = []string{ts, "-c", "0"}, []string{ts, "-c", "1"}
			rep.pinned = true
		}
	}
	h := &harness{cfg: cfg, serverPin: serverPin, clientPin: clientPin}

	for round := range cfg.rounds {
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.progress, "echobench: echo round %d/%d: %s\n", round+1, cfg.rounds, impl)
			res, procs, err := h.echoRound(impl, "")
			if err != nil {
				return nil, fmt.Errorf("echo round %d, %s: %w", round+1, impl, err)
			}
			rep.serverGOMAXPROCS = procs
			rep.echo[impl] = append(rep.echo[impl], res)
			m := float64(res.Messages)
			fmt.Fprintf(cfg.progress, "echobench:   server CPU %.3f µs/msg, %.2f reads/msg, busy %.0f%%; client CPU %.3f µs/msg\n",
				res.cpuPerMsg(), float64(res.ServerReads)/m, 100*float64(res.ServerUser+res.ServerSys)/float64(res.WallNanos),
				float64(res.ClientNanos)/m/1e3)
		}
	}
	if cfg.idle > 0 {
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.progress, "echobench: idle memory: %s, %d connections\n", impl, cfg.idle)
			res, procs, err := h.idleRun(impl, "")
			if err != nil {
				return nil, fmt.Errorf("idle memory, %s: %w", impl, err)
			}
			rep.serverGOMAXPROCS = procs
			rep.idle[impl] = res
		}
	}
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return nil, err
		}
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.progress, "echobench: profiling %s\n", impl)
			if _, _, err := h.echoRound(impl, cfg.profile); err != nil {
				return nil, fmt.Errorf("CPU profile, %s: %w", impl, err)
			}
			rep.profiles = append(rep.profiles, impl+"-cpu.pprof")
			if cfg.idle > 0 {
				if _, _, err := h.idleRun(impl, cfg.profile); err != nil {
					return nil, fmt.Errorf("heap profile, %s: %w", impl, err)
				}
				rep.profiles = append(rep.profiles, impl+"-heap.pprof", impl+"-goroutine.txt")
			}
		}
	}
	return rep, nil
}

// harness starts the processes of a measurement.
type harness struct {
	cfg                  config
	serverPin, clientPin []string
}

// serverProc is a running server process.
type serverProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready
}

// startServer starts a server process and waits until it listens. With a
// profile directory, it is ready to write profiles there; with a memory
// profile rate, it samples allocations that finely (which slows down
// allocating code, so CPU profiles go without).
func (h *harness) startServer(ctx context.Context, impl, profileDir string, memRate int) (*serverProc, int, error) {
	args := []string{"server", "-impl", impl}
	if profileDir != "" {
		args = append(args, "-profiledir", profileDir)
	}
	if memRate != 0 {
		args = append(args, "-memprofilerate", strconv.Itoa(memRate))
	}
	cmd := h.command(ctx, h.serverPin, args)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	s := &serverProc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &s.ready)
	}
	if err != nil {
		s.stop()
		return nil, 0, fmt.Errorf("server did not start: %w", err)
	}
	return s, s.GOMAXPROCS, nil
}

// stop ends the server: it leaves when its stdin closes, and is killed
// if it does not.
func (s *serverProc) stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// command prepares one of our own processes, pinned by the prefix pin.
func (h *harness) command(ctx context.Context, pin, args []string) *exec.Cmd {
	argv := append(append(append([]string(nil), pin...), h.cfg.exe), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = h.cfg.progress
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// client runs a client process to its end and decodes what it prints.
func (h *harness) client(ctx context.Context, args []string, v any) error {
	cmd := h.command(ctx, h.clientPin, args)
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return json.Unmarshal(out, v)
}

func (h *harness) echoRound(impl, profileDir string) (loadResult, int, error) {
	var res loadResult
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout)
	defer cancel()
	s, procs, err := h.startServer(ctx, impl, profileDir, 0)
	if err != nil {
		return res, 0, err
	}
	defer s.stop()
	args := []string{"load",
		"-url", "ws://" + s.WS + echoPath,
		"-ctl", s.Ctl,
		"-conns", strconv.Itoa(h.cfg.conns),
		"-msgs", strconv.Itoa(h.cfg.msgs),
		"-warmup", strconv.Itoa(h.cfg.warmup),
		"-size", strconv.Itoa(h.cfg.size),
		"-type", h.cfg.msgType,
		"-client", h.cfg.client,
	}
	if profileDir != "" {
		args = append(args, "-profile")
	}
	err = h.client(ctx, args, &res)
	return res, procs, err
}

func (h *harness) idleRun(impl, profileDir string) (idleResult, int, error) {
	var res idleResult
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout)
	defer cancel()
	memRate := 0
	if profileDir != "" {
		memRate = 512 // fine enough to see each connection's objects
	}
	s, procs, err := h.startServer(ctx, impl, profileDir, memRate)
	if err != nil {
		return res, 0, err
	}
	defer s.stop()
	args := []string{"idle",
		"-url", "ws://" + s.WS + echoPath,
		"-ctl", s.Ctl,
		"-conns", strconv.Itoa(h.cfg.idle),
		"-size", strconv.Itoa(h.cfg.size),
		"-type", h.cfg.msgType,
		"-client", h.cfg.client,
	}
	if profileDir != "" {
		args = append(args, "-profile")
	}
	err = h.client(ctx, args, &res)
	return res, procs, err
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// loadAverage returns the system's load averages over 1, 5 and 15
// minutes, or "" where the system does not say.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
