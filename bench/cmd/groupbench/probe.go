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
	"strconv"
	"strings"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// A probe is a process holding a few of the group's sockets, which the
// client process starts next to itself. The client's latencies include
// the time the client takes to get round to a socket among thousands on
// one CPU; a probe, idle most of the time, is woken as soon as data
// arrives, so its latencies are what a member on a machine of its own
// would see: the hub's fan-out, the kernel and the network.
//
// The client drives its probe over the probe's stdin, one command a
// line, and the probe answers each with a line of JSON (probeReply):
//
//	dial               open one more socket
//	start FIRST N      a trial begins, of messages FIRST to FIRST+N-1 (N < 0: unknown)
//	stop PUBLISHED     the trial's PUBLISHED messages are out: wait for
//	                   them, then report
//
// The probe closes its sockets and exits when its stdin closes.

// probeReply is a probe's answer to a command.
type probeReply struct {
	Err       string `json:"err,omitempty"`
	Delivered int64  `json:"delivered"`
	Missed    int64  `json:"missed"`
	Bad       int64  `json:"bad"`
	Count     int64  `json:"count"` // latencies recorded
	P50NS     int64  `json:"p50_ns"`
	P99NS     int64  `json:"p99_ns"`
	MaxNS     int64  `json:"max_ns"`
}

func probeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("groupbench probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wsURL := fs.String("url", "", "WebSocket URL of the group")
	settle := fs.Duration("settle", time.Second, "how long deliveries may pause before a trial counts as over")
	limit := fs.Duration("limit", time.Minute, "how long to wait for a trial's deliveries at most")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ms := newMembers()
	defer ms.close()
	var del0, missed0, bad0 int64
	enc := json.NewEncoder(stdout)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var r probeReply
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 1 && f[0] == "dial":
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := ms.dial(ctx, *wsURL, 1, 1); err != nil {
				r.Err = err.Error()
			}
			cancel()
		case len(f) == 3 && f[0] == "start":
			first, err1 := strconv.ParseInt(f[1], 10, 64)
			n, err2 := strconv.ParseInt(f[2], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				r.Err = err.Error()
				break
			}
			ms.lat.Store(newTrialLatency(first, n))
			del0, missed0, bad0 = ms.totals()
		case len(f) == 2 && f[0] == "stop":
			published, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				r.Err = err.Error()
				break
			}
			ms.await(del0+published*int64(len(ms.list)), *settle, *limit)
			del1, missed1, bad1 := ms.totals()
			r.Delivered, r.Missed, r.Bad = del1-del0, missed1-missed0, bad1-bad0
			l := ms.lat.Load()
			r.Count, r.P50NS, r.P99NS, r.MaxNS = int64(l.all.count.Load()), l.all.quantile(0.5), l.all.quantile(0.99), l.all.max.Load()
		default:
			r.Err = fmt.Sprintf("unknown command %q", in.Text())
		}
		if err := enc.Encode(r); err != nil {
			return 1
		}
	}
	return 0
}

// probeProc is a running probe process.
type probeProc struct {
	*harness.Process
}

// startProbe starts a probe process on the group at wsURL. It inherits
// the client's CPU affinity.
func startProbe(wsURL string, settle, limit time.Duration, stderr io.Writer) (*probeProc, error) {
	self, err := harness.NewLauncher(stderr)
	if err != nil {
		return nil, err
	}
	p, err := harness.Start(self.Command(context.Background(), nil,
		"probe", "-url", wsURL, "-settle", settle.String(), "-limit", limit.String()))
	if err != nil {
		return nil, err
	}
	return &probeProc{p}, nil
}

// call sends a command and returns the probe's answer.
func (p *probeProc) call(format string, a ...any) (probeReply, error) {
	var r probeReply
	if _, err := fmt.Fprintf(p.Stdin(), format+"\n", a...); err != nil {
		return r, fmt.Errorf("probe: %w", err)
	}
	err := p.ReadJSON(&r)
	if err == nil && r.Err != "" {
		err = errors.New(r.Err)
	}
	if err != nil {
		return r, fmt.Errorf("probe: %w", err)
	}
	return r, nil
}

// close ends the probe: it leaves when its stdin closes, and is killed
// if it does not.
func (p *probeProc) close() { p.Stop(30 * time.Second) }
