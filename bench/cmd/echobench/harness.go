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
	conns    int           // connections of the echo load
	msgs     int           // measured round trips per connection
	warmup   int           // round trips per connection before measuring
	echoWait time.Duration // quiet time between the warm-up and the measured phase
	size     int           // message size in bytes
	msgType  string        // binary or text
	client   string        // client library of the load
	rounds   int           // rounds per server of the echo and handshake tests
	echo     bool          // run the echo test
	hs       int           // measured handshakes per round, 0 to skip the test
	hsWarm   int           // handshakes per round before measuring
	hsPar    int           // handshakes at a time
	idle     int           // connections of the idle test, 0 to skip it
	idleWait time.Duration // how much longer the idle test holds its connections quiet, 0 for no more
	impls    []string
	harness.Options
}

// The settings of -quick: a few connections and round trips, one round
// per server.
const (
	quickConns  = 4
	quickMsgs   = 300
	quickWarmup = 30
	quickRounds = 1
	quickIdle   = 200
	quickHs     = 300
	quickHsWarm = 20
)

// parseHarnessFlags reads the settings of the echo and idle
// measurements from args, with the flag set fs.
func parseHarnessFlags(fs *flag.FlagSet, args []string) (config, error) {
	stderr := fs.Output()
	var cfg config
	var impls string
	fs.IntVar(&cfg.conns, "conns", 100, "connections of the echo load")
	fs.IntVar(&cfg.msgs, "msgs", 20000, "measured round trips per connection and round")
	fs.IntVar(&cfg.warmup, "warmup", 1000, "round trips per connection before measuring")
	fs.DurationVar(&cfg.echoWait, "echowait", 0, "quiet time between the warm-up and the measured phase of the echo test "+
		"(35s puts every pistoke socket past its first keepalive ping, 30 s after opening)")
	fs.IntVar(&cfg.size, "size", 1024, "message size in bytes")
	fs.StringVar(&cfg.msgType, "type", "binary", "message type: binary or text")
	fs.StringVar(&cfg.client, "client", clientPistoke, "client library of the load processes, the same for every server: pistoke (light enough to keep the server busy) or gorilla")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds per server of the echo and handshake tests, alternating (0 skips both)")
	fs.BoolVar(&cfg.echo, "echo", true, "run the echo test (-echo=false measures handshakes and idle memory only)")
	fs.IntVar(&cfg.hs, "handshakes", 20000, "measured handshakes per round of the handshake test (0 skips it): each connection echoes one "+
		strconv.Itoa(handshakeSize)+"-byte message and closes")
	fs.IntVar(&cfg.hsWarm, "hswarmup", 1000, "handshakes per round before measuring")
	fs.IntVar(&cfg.hsPar, "hspar", 4, "handshakes at a time")
	fs.IntVar(&cfg.idle, "idle", 10000, "connections of the idle memory test (0 skips it)")
	fs.DurationVar(&cfg.idleWait, "idlewait", 40*time.Second, "after the echo, the idle test holds its connections quiet this much longer, "+
		"past pistoke's first keepalive ping (30 s after opening), echoes once more and measures again (0 skips it)")
	fs.StringVar(&impls, "impls", implPistoke+","+implGorilla, "servers to measure, comma-separated: "+strings.Join(allImpls, ", "))
	cfg.AddFlags(fs, harness.OptionsHelp{
		Pin:     "pin the server to CPU 0 and the load to CPU 1 with taskset, when there is one",
		Profile: "after measuring, profile each server (CPU under load, heap and goroutines when idle) into this directory",
		Quick: fmt.Sprintf("smoke run: %d conns × %d msgs, %d handshakes, %d round, %d idle conns, unless set otherwise",
			quickConns, quickMsgs, quickHs, quickRounds, quickIdle),
	})
	quick := map[string]any{
		"conns":      quickConns,
		"msgs":       quickMsgs,
		"warmup":     quickWarmup,
		"rounds":     quickRounds,
		"idle":       quickIdle,
		"handshakes": quickHs,
		"hswarmup":   quickHsWarm,
		"idlewait":   0,
	}
	if _, err := cfg.Parse(fs, args, quick); err != nil {
		return cfg, err
	}
	for _, s := range strings.Split(impls, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.impls = append(cfg.impls, s)
		}
	}
	for i, s := range cfg.impls {
		if !slices.Contains(allImpls, s) {
			fmt.Fprintf(stderr, "echobench: unknown server %q (want %s)\n", s, strings.Join(allImpls, ", "))
			return cfg, errors.New("unknown server")
		}
		if slices.Contains(cfg.impls[:i], s) {
			fmt.Fprintf(stderr, "echobench: server %q named twice\n", s)
			return cfg, errors.New("server named twice")
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
	if cfg.conns < 1 || cfg.msgs < 1 || cfg.hsPar < 1 || cfg.warmup < 0 || cfg.size < 0 || cfg.rounds < 0 || cfg.idle < 0 ||
		cfg.hs < 0 || cfg.hsWarm < 0 || cfg.idleWait < 0 || cfg.echoWait < 0 {
		fmt.Fprintln(stderr, "echobench: -conns, -msgs and -hspar must be positive, the other counts not negative")
		return cfg, errors.New("bad counts")
	}
	return cfg, nil
}

// report holds every measurement of one run.
type report struct {
	cfg              config
	pinned           bool
	serverGOMAXPROCS int
	load             harness.LoadAverages
	echo             map[string][]loadResult // by server, in round order
	hs               map[string][]hsResult   // likewise
	idle             map[string]idleResult
	profiles         []string
}

func runHarness(cfg config) (*report, error) {
	// Progress comes from the harness and from its processes' stderr at
	// once.
	cfg.Progress = harness.NewLockedWriter(cfg.Progress)
	l, err := harness.NewLauncher(cfg.Progress)
	if err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, echo: map[string][]loadResult{}, hs: map[string][]hsResult{}, idle: map[string]idleResult{}}
	rep.load.Start = harness.LoadAverage()
	defer func() { rep.load.End = harness.LoadAverage() }()
	if cfg.Pin {
		rep.pinned = l.Pin()
	}
	r := &runner{cfg: cfg, procs: l}

	for round := range cfg.rounds {
		if !cfg.echo {
			break
		}
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.Progress, "echobench: echo round %d/%d: %s\n", round+1, cfg.rounds, impl)
			res, procs, err := r.echoRound(impl, "")
			if err != nil {
				return nil, fmt.Errorf("echo round %d, %s: %w", round+1, impl, err)
			}
			rep.serverGOMAXPROCS = procs
			rep.echo[impl] = append(rep.echo[impl], res)
			m := float64(res.Messages)
			fmt.Fprintf(cfg.Progress, "echobench:   server CPU %.3f µs/msg, %.2f reads/msg, %.2f allocs/msg, busy %.0f%%, %.0f s; client CPU %.3f µs/msg\n",
				res.cpuPerMsg(), float64(res.ServerReads)/m, float64(res.ServerMallocs)/m,
				100*float64(res.ServerUser+res.ServerSys)/float64(res.WallNanos), float64(res.WallNanos)/1e9,
				float64(res.ClientNanos)/m/1e3)
		}
	}
	for round := range cfg.rounds {
		if cfg.hs == 0 {
			break
		}
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.Progress, "echobench: handshake round %d/%d: %s\n", round+1, cfg.rounds, impl)
			res, procs, err := r.handshakeRound(impl, "")
			if err != nil {
				return nil, fmt.Errorf("handshake round %d, %s: %w", round+1, impl, err)
			}
			rep.serverGOMAXPROCS = procs
			rep.hs[impl] = append(rep.hs[impl], res)
			h := float64(res.Handshakes)
			fmt.Fprintf(cfg.Progress, "echobench:   server CPU %.1f µs/handshake, busy %.0f%%; client CPU %.1f µs/handshake\n",
				res.cpuPerHandshake(), 100*float64(res.ServerUser+res.ServerSys)/float64(res.WallNanos),
				float64(res.ClientNanos)/h/1e3)
		}
	}
	if cfg.idle > 0 {
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.Progress, "echobench: idle memory: %s, %d connections\n", impl, cfg.idle)
			res, procs, err := r.idleRun(impl, "")
			if err != nil {
				return nil, fmt.Errorf("idle memory, %s: %w", impl, err)
			}
			rep.serverGOMAXPROCS = procs
			rep.idle[impl] = res
		}
	}
	if cfg.Profile != "" {
		if err := os.MkdirAll(cfg.Profile, 0o755); err != nil {
			return nil, err
		}
		for _, impl := range cfg.impls {
			fmt.Fprintf(cfg.Progress, "echobench: profiling %s\n", impl)
			if cfg.echo {
				if _, _, err := r.echoRound(impl, cfg.Profile); err != nil {
					return nil, fmt.Errorf("CPU profile, %s: %w", impl, err)
				}
				rep.profiles = append(rep.profiles, impl+"-cpu.pprof")
			}
			if cfg.hs > 0 {
				if _, _, err := r.handshakeRound(impl, cfg.Profile); err != nil {
					return nil, fmt.Errorf("handshake CPU profile, %s: %w", impl, err)
				}
				rep.profiles = append(rep.profiles, impl+"-handshake-cpu.pprof")
			}
			if cfg.idle > 0 {
				if _, _, err := r.idleRun(impl, cfg.Profile); err != nil {
					return nil, fmt.Errorf("heap profile, %s: %w", impl, err)
				}
				rep.profiles = append(rep.profiles, impl+"-heap.pprof", impl+"-goroutine.txt")
			}
		}
	}
	return rep, nil
}

// runner runs the measurements of a harness, each in processes of its
// own.
type runner struct {
	cfg   config
	procs *harness.Launcher
}

// session starts a server process and runs a client process of the
// subcommand sub against it, with args, and decodes what the client
// prints into v. It returns the server's GOMAXPROCS. With a profile
// directory, the server is ready to write profiles there, and the client
// has it do so (args tell it how); with a memory profile rate, the
// server samples allocations that finely (which slows down allocating
// code, so CPU profiles go without).
func (r *runner) session(impl, profileDir string, memRate int, v any, sub string, args ...string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	sargs := []string{"server", "-impl", impl}
	if profileDir != "" {
		sargs = append(sargs, "-profiledir", profileDir)
	}
	if memRate != 0 {
		sargs = append(sargs, "-memprofilerate", strconv.Itoa(memRate))
	}
	s, err := r.procs.StartServer(ctx, sargs...)
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	cargs := append([]string{sub,
		"-url", "ws://" + s.WS + echoPath,
		"-ctl", s.Ctl,
		"-type", r.cfg.msgType,
		"-client", r.cfg.client,
	}, args...)
	return s.GOMAXPROCS, r.procs.RunJSON(ctx, r.procs.ClientPin, v, cargs...)
}

// echoRound measures the server impl under the echo load.
func (r *runner) echoRound(impl, profileDir string) (loadResult, int, error) {
	var res loadResult
	procs, err := r.session(impl, profileDir, 0, &res, "load",
		"-size", strconv.Itoa(r.cfg.size),
		"-conns", strconv.Itoa(r.cfg.conns),
		"-msgs", strconv.Itoa(r.cfg.msgs),
		"-warmup", strconv.Itoa(r.cfg.warmup),
		"-wait", r.cfg.echoWait.String(),
		"-profile="+strconv.FormatBool(profileDir != ""))
	return res, procs, err
}

// handshakeRound measures the server impl's CPU per handshake.
func (r *runner) handshakeRound(impl, profileDir string) (hsResult, int, error) {
	var res hsResult
	profile := ""
	if profileDir != "" {
		profile = impl + "-handshake"
	}
	procs, err := r.session(impl, profileDir, 0, &res, "handshake",
		"-size", strconv.Itoa(handshakeSize),
		"-n", strconv.Itoa(r.cfg.hs),
		"-warmup", strconv.Itoa(r.cfg.hsWarm),
		"-par", strconv.Itoa(r.cfg.hsPar),
		"-profile", profile)
	return res, procs, err
}

// idleRun measures the memory of the server impl with idle connections.
func (r *runner) idleRun(impl, profileDir string) (idleResult, int, error) {
	var res idleResult
	memRate := 0
	if profileDir != "" {
		memRate = 512 // fine enough to see each connection's objects
	}
	procs, err := r.session(impl, profileDir, memRate, &res, "idle",
		"-size", strconv.Itoa(r.cfg.size),
		"-conns", strconv.Itoa(r.cfg.idle),
		"-wait", r.cfg.idleWait.String(),
		"-profile="+strconv.FormatBool(profileDir != ""))
	return res, procs, err
}
