package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
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
	serverProcs int // GOMAXPROCS of the server process, 0 for the default
	probes      int
	harness.Options
}

// The settings of -quick: a small group on the in-process backend, and
// short trials, few of them.
const (
	quickMembers  = 20
	quickDuration = 200 * time.Millisecond
	quickRounds   = 1
	quickSteps    = 2
	quickStart    = 20000
)

// parseHarnessFlags reads which backends, groups and messages to
// measure from args, with the flag set fs.
func parseHarnessFlags(fs *flag.FlagSet, args []string) (config, error) {
	stderr := fs.Output()
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
	fs.IntVar(&cfg.serverProcs, "server-procs", 2, "GOMAXPROCS of the server process, even when it is pinned to one CPU (0: Go's default): "+
		"with one P, Go polls the network only every 10 ms while the fan-out keeps it busy, which throttles a publisher waiting for a broker's replies")
	cfg.AddFlags(fs, harness.OptionsHelp{
		Pin:     "pin the server to CPU 0, the client and the broker to CPU 1 with taskset, when there is one",
		Profile: "after measuring, profile the server's CPU in a flood trial and a sustained one into this directory",
		Quick: fmt.Sprintf("smoke run: -backends local -members %d -duration %v -rounds %d -steps %d -start %d, unless set otherwise",
			quickMembers, quickDuration, quickRounds, quickSteps, quickStart),
	})
	given, err := cfg.Parse(fs, args, map[string]any{
		"backends": backendLocal,
		"members":  quickMembers,
		"duration": quickDuration,
		"rounds":   quickRounds,
		"steps":    quickSteps,
		"start":    quickStart,
	})
	if err != nil {
		return cfg, err
	}
	cfg.backendsSet = given["backends"]
	fail := func(format string, a ...any) (config, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, "groupbench:", err)
		return cfg, err
	}
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
	if cfg.members, err = parseCounts(members); err != nil {
		return fail("-members: %v", err)
	}
	if cfg.sizes, err = parseSizes(sizes); err != nil {
		return fail("-sizes: %v", err)
	}
	if len(cfg.backends) == 0 || cfg.duration <= 0 || cfg.rounds < 1 || cfg.steps < 1 || cfg.start <= 0 || cfg.queue < 0 || cfg.probes < 0 || cfg.serverProcs < 0 {
		return fail("want a backend, -duration, -rounds, -steps and -start positive, -queue, -probes and -server-procs not negative")
	}
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
	pinned           bool
	serverGOMAXPROCS int
	load             harness.LoadAverages
	runs             []measurement
	skipped          map[string]string // backends not measured, and why
	profiles         []string
	floors           []floorResult // plain writes to N sockets, the least time a fan-out takes
}

func runHarness(cfg config) (*report, error) {
	// Progress comes from the harness and from its processes' stderr at
	// once.
	cfg.Progress = harness.NewLockedWriter(cfg.Progress)
	l, err := harness.NewLauncher(cfg.Progress)
	if err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, skipped: map[string]string{}}
	rep.load.Start = harness.LoadAverage()
	defer func() { rep.load.End = harness.LoadAverage() }()
	if cfg.Pin {
		rep.pinned = l.Pin()
	}
	h := &runner{cfg: cfg, procs: l}
	if err := h.measureFloors(rep); err != nil {
		return nil, err
	}
	for _, backend := range cfg.backends {
		url := cfg.urls[backend]
		brokerPID := 0
		if backend != backendLocal && url == "" {
			b, err := startBroker(backend, h.procs.ClientPin)
			if errors.Is(err, errNoBroker) && !cfg.backendsSet {
				fmt.Fprintf(cfg.Progress, "groupbench: skipping %s: %v\n", backend, err)
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
func (h *runner) measureFloors(rep *report) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
	defer cancel()
	size := slices.Min(h.cfg.sizes)
	for _, n := range h.cfg.members {
		pins := [][]string{h.procs.ServerPin}
		if h.procs.ServerPin != nil {
			pins = append(pins, nil)
		}
		for _, pin := range pins {
			var f floorResult
			if err := h.procs.RunJSON(ctx, pin, &f, "floor", "-members", strconv.Itoa(n), "-size", strconv.Itoa(size)); err != nil {
				return fmt.Errorf("write floor, %d members: %w", n, err)
			}
			fmt.Fprintf(h.cfg.Progress, "groupbench: write floor, %d members, %d B, %d goroutines: %v per round, %.0f ns per write\n",
				n, size, f.Goroutines, time.Duration(f.Wall).Round(time.Microsecond), f.PerWrite)
			rep.floors = append(rep.floors, f)
		}
	}
	return nil
}

// measureBackend measures backend with every member count, each in a
// fresh server process.
func (h *runner) measureBackend(rep *report, backend, url string, brokerPID int) error {
	for _, n := range h.cfg.members {
		fmt.Fprintf(h.cfg.Progress, "groupbench: %s backend, %d members\n", backend, n)
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

// runner runs the measurements of a harness, each in processes of its
// own.
type runner struct {
	cfg   config
	procs *harness.Launcher
}

// measure runs one server process and one client process against it.
func (h *runner) measure(backend, url string, brokerPID, members int) (clientResult, int, error) {
	var res clientResult
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
	defer cancel()
	args := []string{"server", "-backend", backend, "-queue", strconv.Itoa(h.cfg.queue), "-procs", strconv.Itoa(h.cfg.serverProcs)}
	if url != "" {
		args = append(args, "-url", url)
	}
	if h.cfg.Profile != "" {
		if err := os.MkdirAll(h.cfg.Profile, 0o755); err != nil {
			return res, 0, err
		}
		args = append(args, "-profiledir", h.cfg.Profile)
	}
	s, err := h.procs.StartServer(ctx, args...)
	if err != nil {
		return res, 0, err
	}
	defer s.Stop()
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
		"-timeout", h.cfg.Timeout.String(),
	}
	if h.cfg.Profile != "" {
		cargs = append(cargs, "-profile", label)
	}
	if err := h.procs.RunJSON(ctx, h.procs.ClientPin, &res, cargs...); err != nil {
		return res, 0, err
	}
	return res, s.GOMAXPROCS, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
