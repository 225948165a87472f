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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// config is what the harness measures and how.
type config struct {
	backends    []string
	backendsSet bool              // -backends was given: a missing broker is an error
	urls        map[string]string // brokers to use instead of starting one, by backend
	members     []int
	sizes       []int
	duration    time.Duration
	rounds      int
	start       float64
	steps       int
	flood       bool
	queue       int
	probes      int
	pin         bool   // pin processes to CPUs with taskset
	profile     string // directory for server profiles, "" for none
	quick       bool
	exe         string        // the program to start the processes from
	timeout     time.Duration // bound on each process
	progress    io.Writer     // where progress goes (stderr)
}

// Settings of -quick: enough to go through every step, too little to
// mean anything.
const (
	quickMembers  = 20
	quickDuration = 200 * time.Millisecond
	quickRounds   = 1
	quickSteps    = 2
	quickStart    = 20000
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
		fmt.Fprintln(stderr, "groupbench:", err)
		return 1
	}
	rep.command = "groupbench " + strings.Join(args, " ")
	rep.write(stdout)
	return 0
}

func parseHarnessFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("groupbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: groupbench [flags]\n\n"+
			"Measures the fan-out of a groups hub: one publisher, one group, N member\n"+
			"sockets on 127.0.0.1; sustained deliveries a second, server CPU per\n"+
			"delivery and delivery latency, for each backend. Prints a markdown report.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg config
	var backends, members, sizes, redisURL, natsURL string
	fs.StringVar(&backends, "backends", "local,redis,nats", "backends to measure, comma-separated: local, redis, nats")
	fs.StringVar(&redisURL, "redis", "", "URL of a Redis server to use instead of starting redis-server")
	fs.StringVar(&natsURL, "nats", "", "URL of a NATS server to use instead of starting nats-server")
	fs.StringVar(&members, "members", "1000,10000", "member counts, comma-separated; each runs in a fresh server")
	fs.StringVar(&sizes, "sizes", "64,1024", "message sizes in bytes, comma-separated")
	fs.DurationVar(&cfg.duration, "duration", 3*time.Second, "publishing time of each trial")
	fs.IntVar(&cfg.rounds, "rounds", 3, "trials at the sustained rate, and flood trials, per size (medians are reported)")
	fs.Float64Var(&cfg.start, "start", 250000, "deliveries a second of the rate search's first trial")
	fs.IntVar(&cfg.steps, "steps", 10, "most trials of the rate search")
	fs.BoolVar(&cfg.flood, "flood", true, "also publish as fast as the hub takes messages")
	fs.IntVar(&cfg.probes, "probes", 20, "members held by a probe process next to the client, at most a tenth of them (0: none)")
	fs.IntVar(&cfg.queue, "queue", 0, "groups.Options.QueueSize of the hub (0: the default)")
	fs.BoolVar(&cfg.pin, "pin", true, "pin the server to CPU 0, the client and the broker to CPU 1 with taskset, when there is one")
	fs.StringVar(&cfg.profile, "profile", "", "after measuring, profile the server's CPU in a flood trial and a sustained one into this directory")
	fs.BoolVar(&cfg.quick, "quick", false, fmt.Sprintf("smoke run: -backends local -members %d -duration %v -rounds %d -steps %d -start %d, unless set otherwise",
		quickMembers, quickDuration, quickRounds, quickSteps, quickStart))
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "give up on a process that runs longer than this")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	fail := func(format string, a ...any) (config, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, "groupbench:", err)
		return cfg, err
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick {
		if !set["backends"] {
			backends = backendLocal
		}
		if !set["members"] {
			members = strconv.Itoa(quickMembers)
		}
		if !set["duration"] {
			cfg.duration = quickDuration
		}
		if !set["rounds"] {
			cfg.rounds = quickRounds
		}
		if !set["steps"] {
			cfg.steps = quickSteps
		}
		if !set["start"] {
			cfg.start = quickStart
		}
	}
	cfg.backendsSet = set["backends"]
	cfg.urls = map[string]string{}
	if redisURL != "" {
		cfg.urls[backendRedis] = redisURL
	}
	if natsURL != "" {
		cfg.urls[backendNATS] = natsURL
	}
	for _, s := range strings.Split(backends, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case backendLocal, backendRedis, backendNATS:
			cfg.backends = append(cfg.backends, s)
		default:
			return fail("unknown backend %q (want %s, %s or %s)", s, backendLocal, backendRedis, backendNATS)
		}
	}
	var err error
	if cfg.members, err = parseCounts(members); err != nil {
		return fail("-members: %v", err)
	}
	if cfg.sizes, err = parseSizes(sizes); err != nil {
		return fail("-sizes: %v", err)
	}
	if len(cfg.backends) == 0 || cfg.duration <= 0 || cfg.rounds < 1 || cfg.steps < 1 || cfg.start <= 0 || cfg.queue < 0 || cfg.probes < 0 {
		return fail("want a backend, -duration, -rounds, -steps and -start positive, -queue and -probes not negative")
	}
	if cfg.profile != "" {
		// The server processes write the files; make the place theirs too.
		abs, err := filepath.Abs(cfg.profile)
		if err != nil {
			return fail("%v", err)
		}
		cfg.profile = abs
	}
	exe, err := os.Executable()
	if err != nil {
		return fail("%v", err)
	}
	cfg.exe = exe
	cfg.progress = stderr
	return cfg, nil
}

// parseCounts parses a comma-separated list of positive integers.
func parseCounts(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil, errors.New("empty list")
	}
	return ns, nil
}

// parseSizes parses a comma-separated list of message sizes.
func parseSizes(s string) ([]int, error) {
	ns, err := parseCounts(s)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if n < minSize {
			return nil, fmt.Errorf("a message of %d bytes cannot hold the %d-byte header", n, minSize)
		}
	}
	return ns, nil
}

// measurement is one server process with one member count, and what its
// client measured.
type measurement struct {
	backend string
	members int
	client  clientResult
}

// report holds every measurement of one run of the harness.
type report struct {
	cfg              config
	command          string
	pinned           bool
	serverGOMAXPROCS int
	loadavg          [2]string // the machine's load average at the start and the end
	runs             []measurement
	skipped          map[string]string // backends not measured, and why
	profiles         []string
	floors           []floorResult // plain writes to N sockets, the least time a fan-out takes
}

func runHarness(cfg config) (*report, error) {
	// Progress comes from the harness and from its processes' stderr at
	// once.
	cfg.progress = &lockedWriter{w: cfg.progress}
	rep := &report{cfg: cfg, skipped: map[string]string{}}
	rep.loadavg[0] = loadAverage()
	defer func() { rep.loadavg[1] = loadAverage() }()
	h := &harness{cfg: cfg}
	if cfg.pin && runtime.NumCPU() >= 2 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			h.serverPin, h.clientPin = []string{ts, "-c", "0"}, []string{ts, "-c", "1"}
			rep.pinned = true
		}
	}
	if err := h.measureFloors(rep); err != nil {
		return nil, err
	}
	for _, backend := range cfg.backends {
		url := cfg.urls[backend]
		brokerPID := 0
		if backend != backendLocal && url == "" {
			b, err := startBroker(backend, h.clientPin)
			if errors.Is(err, errNoBroker) && !cfg.backendsSet {
				fmt.Fprintf(cfg.progress, "groupbench: skipping %s: %v\n", backend, err)
				rep.skipped[backend] = err.Error()
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", backend, err)
			}
			url, brokerPID = b.url, b.pid()
			err = h.measureBackend(rep, backend, url, brokerPID)
			b.stop()
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := h.measureBackend(rep, backend, url, brokerPID); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// measureFloors runs the floor subcommand for each member count, pinned
// like the server and then free to use every CPU.
func (h *harness) measureFloors(rep *report) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout)
	defer cancel()
	size := slices.Min(h.cfg.sizes)
	for _, n := range h.cfg.members {
		pins := [][]string{h.serverPin}
		if h.serverPin != nil {
			pins = append(pins, nil)
		}
		for _, pin := range pins {
			cmd := h.command(ctx, pin, []string{"floor", "-members", strconv.Itoa(n), "-size", strconv.Itoa(size)})
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("write floor, %d members: %w", n, err)
			}
			var f floorResult
			if err := json.Unmarshal(out, &f); err != nil {
				return fmt.Errorf("write floor, %d members: %w", n, err)
			}
			fmt.Fprintf(h.cfg.progress, "groupbench: write floor, %d members, %d B, %d goroutines: %v per round, %.0f ns per write\n",
				n, size, f.Goroutines, time.Duration(f.Wall).Round(time.Microsecond), f.PerWrite)
			rep.floors = append(rep.floors, f)
		}
	}
	return nil
}

// measureBackend measures backend with every member count, each in a
// fresh server process.
func (h *harness) measureBackend(rep *report, backend, url string, brokerPID int) error {
	for _, n := range h.cfg.members {
		fmt.Fprintf(h.cfg.progress, "groupbench: %s backend, %d members\n", backend, n)
		res, procs, err := h.measure(backend, url, brokerPID, n)
		if err != nil {
			return fmt.Errorf("%s backend, %d members: %w", backend, n, err)
		}
		rep.serverGOMAXPROCS = procs
		rep.runs = append(rep.runs, measurement{backend: backend, members: n, client: res})
		rep.profiles = append(rep.profiles, res.Profiles...)
	}
	return nil
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

// measure runs one server process and one client process against it.
func (h *harness) measure(backend, url string, brokerPID, members int) (clientResult, int, error) {
	var res clientResult
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout)
	defer cancel()
	args := []string{"server", "-backend", backend, "-queue", strconv.Itoa(h.cfg.queue)}
	if url != "" {
		args = append(args, "-url", url)
	}
	if h.cfg.profile != "" {
		if err := os.MkdirAll(h.cfg.profile, 0o755); err != nil {
			return res, 0, err
		}
		args = append(args, "-profiledir", h.cfg.profile)
	}
	s, err := h.startServer(ctx, args)
	if err != nil {
		return res, 0, err
	}
	defer s.stop()
	label := fmt.Sprintf("%s-%d", backend, members)
	cargs := []string{"client",
		"-url", "ws://" + s.WS + memberPath,
		"-ctl", s.Ctl,
		"-members", strconv.Itoa(members),
		"-sizes", joinInts(h.cfg.sizes),
		"-duration", h.cfg.duration.String(),
		"-rounds", strconv.Itoa(h.cfg.rounds),
		"-start", strconv.FormatFloat(h.cfg.start, 'g', -1, 64),
		"-steps", strconv.Itoa(h.cfg.steps),
		"-flood=" + strconv.FormatBool(h.cfg.flood),
		"-brokerpid", strconv.Itoa(brokerPID),
		"-probes", strconv.Itoa(h.cfg.probes),
		"-label", label,
		"-timeout", h.cfg.timeout.String(),
	}
	if h.cfg.profile != "" {
		cargs = append(cargs, "-profile", label)
	}
	cmd := h.command(ctx, h.clientPin, cargs)
	out, err := cmd.Output()
	if err != nil {
		return res, 0, fmt.Errorf("client: %w", err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, 0, fmt.Errorf("client: %w", err)
	}
	return res, s.GOMAXPROCS, nil
}

// startServer starts a server process and waits until it listens.
func (h *harness) startServer(ctx context.Context, args []string) (*serverProc, error) {
	cmd := h.command(ctx, h.serverPin, args)
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
	s := &serverProc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &s.ready)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	return s, nil
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

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
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
