package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// clientConfig is what a client process measures.
type clientConfig struct {
	url       string // WebSocket URL of the group
	ctl       string // address of the server's control listener
	members   int
	sizes     []int
	duration  time.Duration // of each trial's publishing
	rounds    int           // trials at the sustained rate, and flood trials
	start     float64       // deliveries a second of the search's first trial
	steps     int           // most trials of the search
	flood     bool
	profile   string // name prefix of the server's CPU profiles, "" for none
	brokerPID int    // the broker process, 0 for none
	probes    int    // most sockets of the probe process
	timeout   time.Duration
}

// clientResult is what a client process prints.
type clientResult struct {
	Members  int          `json:"members"`
	DialNS   int64        `json:"dial_ns"` // opening and joining every socket
	Sizes    []sizeResult `json:"sizes"`
	Profiles []string     `json:"profiles,omitempty"`
}

func clientMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("groupbench client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg clientConfig
	var sizes, label string
	fs.StringVar(&cfg.url, "url", "", "WebSocket URL of the group")
	fs.StringVar(&cfg.ctl, "ctl", "", "address of the server's control listener")
	fs.IntVar(&cfg.members, "members", 1000, "sockets in the group")
	fs.StringVar(&sizes, "sizes", "64,1024", "message sizes in bytes, comma-separated")
	fs.DurationVar(&cfg.duration, "duration", 3*time.Second, "publishing time of each trial")
	fs.IntVar(&cfg.rounds, "rounds", 3, "trials at the sustained rate, and flood trials")
	fs.Float64Var(&cfg.start, "start", 250000, "deliveries a second of the search's first trial")
	fs.IntVar(&cfg.steps, "steps", 10, "most trials of the search")
	fs.BoolVar(&cfg.flood, "flood", true, "also publish as fast as the hub takes messages")
	fs.StringVar(&cfg.profile, "profile", "", "have the server profile its CPU in extra trials, naming the profiles with this prefix")
	fs.IntVar(&cfg.brokerPID, "brokerpid", 0, "process ID of the broker, to measure its CPU time")
	fs.IntVar(&cfg.probes, "probes", 20, "sockets of the probe process, at most a tenth of the members (0: no probe)")
	fs.StringVar(&label, "label", "", "names the run in progress lines")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.sizes, err = parseSizes(sizes); err != nil {
		fmt.Fprintln(stderr, "groupbench client:", err)
		return 2
	}
	if err := harness.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintln(stderr, "groupbench client: raising the open file limit:", err)
	}
	res, err := measure(cfg, label, stderr)
	return harness.Finish(stdout, stderr, "groupbench client", res, err)
}

// waitLimit bounds the wait for a trial's deliveries, for a flood whose
// backlog takes the hub long to clear: whatever has not arrived by then
// counts as lost.
func waitLimit(d time.Duration) time.Duration { return max(time.Minute, 20*d) }

// measure opens the members, runs every trial and closes the members.
func measure(cfg clientConfig, label string, progress io.Writer) (clientResult, error) {
	res := clientResult{Members: cfg.members}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	ctl := newCtlClient(cfg.ctl)
	settle := max(250*time.Millisecond, cfg.duration/2)
	start := time.Now()
	probes := min(cfg.probes, cfg.members/10)
	var probe *probeProc
	if probes > 0 {
		var err error
		if probe, err = startProbe(cfg.url, settle, waitLimit(cfg.duration), progress); err != nil {
			return res, err
		}
		defer probe.close()
	}
	ms := newMembers()
	defer ms.close()
	// The hub writes to a group's members in the order they joined: the
	// probe's sockets join at even intervals among the client's, so that
	// they see the fan-out from its start to its end.
	own := cfg.members - probes
	joined := 0
	for i := range probes + 1 {
		n := own*(i+1)/(probes+1) - own*i/(probes+1)
		if err := ms.dial(ctx, cfg.url, n, 64); err != nil {
			return res, err
		}
		joined += n
		if i == probes {
			break
		}
		if err := ctl.waitJoined(ctx, int64(joined), 2*time.Minute); err != nil {
			return res, err
		}
		if _, err := probe.call("dial"); err != nil {
			return res, err
		}
		joined++
		if err := ctl.waitJoined(ctx, int64(joined), 2*time.Minute); err != nil {
			return res, err
		}
	}
	if err := ctl.waitJoined(ctx, int64(cfg.members), 2*time.Minute); err != nil {
		return res, err
	}
	res.DialNS = time.Since(start).Nanoseconds()
	fmt.Fprintf(progress, "groupbench: %s: %d members joined (%d of them in the probe) in %v\n",
		label, cfg.members, probes, time.Since(start).Round(time.Millisecond))
	d := &driver{
		ctl:       ctl,
		ms:        ms,
		brokerPID: cfg.brokerPID,
		probe:     probe,
		probes:    probes,
		nextSeq:   1,
		settle:    settle,
		label:     label,
		progress:  progress,
	}
	for _, size := range cfg.sizes {
		sr, err := d.measureSize(ctx, cfg, size)
		res.Sizes = append(res.Sizes, sr)
		if err != nil {
			return res, err
		}
	}
	if cfg.profile != "" {
		for _, sr := range res.Sizes {
			names, err := d.profile(ctx, cfg, sr)
			res.Profiles = append(res.Profiles, names...)
			if err != nil {
				return res, err
			}
		}
	}
	return res, nil
}
