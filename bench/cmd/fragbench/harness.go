package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// config is what the harness measures and how.
type config struct {
	size   int // message size in bytes
	msgs   int // measured messages per case and round
	warmup int // messages per session before measuring
	rounds int // rounds, each going through every case
	cases  []msgCase
	harness.Options
}

// maxSize is the largest -size: a message of that many one-byte frames
// has 6 header bytes per payload byte, which must stay within the 8 MiB
// the read limit allows a message's headers.
const maxSize = 1 << 20

// The settings of -quick: small messages, a few of them, one round.
const (
	quickSize   = 64 << 10
	quickMsgs   = 3
	quickWarmup = 1
	quickRounds = 1
)

// parseHarnessFlags reads the settings of the measurement from args,
// with the flag set fs.
func parseHarnessFlags(fs *flag.FlagSet, args []string) (config, error) {
	stderr := fs.Output()
	var cfg config
	var names string
	fs.IntVar(&cfg.size, "size", 1<<20, fmt.Sprintf("message size in bytes, at most %d: the payload of the one-frame and byte-frames cases, the count of empty frames of empty-frames", maxSize))
	fs.IntVar(&cfg.msgs, "msgs", 100, "measured messages per case and round")
	fs.IntVar(&cfg.warmup, "warmup", 2, "messages per case and round before measuring")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds, each measuring every case in a fresh server process")
	fs.StringVar(&names, "cases", caseNames(cases), "cases to measure, comma-separated")
	cfg.AddFlags(fs, harness.OptionsHelp{
		Pin:     "pin the server to CPU 0 and the client to CPU 1 with taskset, when there is one",
		Profile: "after measuring, profile the server's CPU for each case into this directory",
		Quick: fmt.Sprintf("smoke run: %d-byte messages, %d measured, %d round, unless set otherwise",
			quickSize, quickMsgs, quickRounds),
	})
	quick := map[string]any{
		"size":   quickSize,
		"msgs":   quickMsgs,
		"warmup": quickWarmup,
		"rounds": quickRounds,
	}
	if _, err := cfg.Parse(fs, args, quick); err != nil {
		return cfg, err
	}
	for _, name := range strings.Split(names, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		c, err := lookupCase(name)
		if err != nil {
			fmt.Fprintln(stderr, "fragbench:", err)
			return cfg, err
		}
		cfg.cases = append(cfg.cases, c)
	}
	if len(cfg.cases) == 0 {
		fmt.Fprintln(stderr, "fragbench: -cases names no case")
		return cfg, errors.New("no case")
	}
	if cfg.size < 1 || cfg.size > maxSize || cfg.msgs < 1 || cfg.warmup < 0 || cfg.rounds < 0 {
		fmt.Fprintf(stderr, "fragbench: -size must be 1 to %d, -msgs positive, -warmup and -rounds not negative\n", maxSize)
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
	results          map[string][]result // by case, in round order
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
	rep := &report{cfg: cfg, results: map[string][]result{}}
	rep.load.Start = harness.LoadAverage()
	defer func() { rep.load.End = harness.LoadAverage() }()
	if cfg.Pin {
		rep.pinned = l.Pin()
	}
	for round := range cfg.rounds {
		for _, c := range cfg.cases {
			res, procs, err := session(cfg, l, c, "")
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, c.name, err)
			}
			rep.serverGOMAXPROCS = procs
			rep.results[c.name] = append(rep.results[c.name], res)
			fmt.Fprintf(cfg.Progress, "fragbench: round %d/%d: %-19s server CPU %9.1f µs/msg, %6.3f ns/wire byte, busy %3.0f%%; client CPU %8.1f µs/msg\n",
				round+1, cfg.rounds, c.name, res.cpuPerMsg(), res.nsPerWireByte(),
				100*res.serverNanos()/float64(res.WallNanos), float64(res.ClientNanos)/float64(res.Messages)/1e3)
		}
	}
	if cfg.Profile != "" {
		if err := os.MkdirAll(cfg.Profile, 0o755); err != nil {
			return nil, err
		}
		for _, c := range cfg.cases {
			fmt.Fprintf(cfg.Progress, "fragbench: profiling %s\n", c.name)
			if _, _, err := session(cfg, l, c, cfg.Profile); err != nil {
				return nil, fmt.Errorf("CPU profile, %s: %w", c.name, err)
			}
			rep.profiles = append(rep.profiles, c.name+"-cpu.pprof")
		}
	}
	return rep, nil
}

// session starts a server process and runs a client process that sends
// it the case's messages, and returns what the client measured and the
// server's GOMAXPROCS. With a profile directory, the server profiles its
// CPU across the measured phase into it.
func session(cfg config, l *harness.Launcher, c msgCase, profileDir string) (result, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	sargs := []string{"server"}
	if profileDir != "" {
		sargs = append(sargs, "-profiledir", profileDir)
	}
	s, err := l.StartServer(ctx, sargs...)
	if err != nil {
		return result{}, 0, err
	}
	defer s.Stop()
	cargs := []string{"client",
		"-url", "ws://" + s.WS + sinkPath,
		"-ctl", s.Ctl,
		"-case", c.name,
		"-size", strconv.Itoa(cfg.size),
		"-msgs", strconv.Itoa(cfg.msgs),
		"-warmup", strconv.Itoa(cfg.warmup),
	}
	if profileDir != "" {
		cargs = append(cargs, "-profile")
	}
	var res result
	err = l.RunJSON(ctx, l.ClientPin, &res, cargs...)
	return res, s.GOMAXPROCS, err
}
