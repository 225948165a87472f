package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// loadResult is what a load process prints: the server's counters across
// the measured phase only (after the connections opened and warmed up).
type loadResult struct {
	Conns         int   `json:"conns"`
	Messages      int64 `json:"messages"` // messages the server echoed
	ServerUser    int64 `json:"server_user_ns"`
	ServerSys     int64 `json:"server_sys_ns"`
	ServerMallocs int64 `json:"server_mallocs"`
	ServerAlloc   int64 `json:"server_alloc_bytes"`
	ServerGCs     int64 `json:"server_gcs"`
	ServerReads   int64 `json:"server_reads"`  // read system calls
	ServerWrites  int64 `json:"server_writes"` // write system calls
	Handshakes    int64 `json:"handshakes"`    // requests the server's middleware saw
	WallNanos     int64 `json:"wall_ns"`
	ClientNanos   int64 `json:"client_cpu_ns"` // the load process's own CPU time
}

// cpuPerMsg returns the server CPU time per echoed message, in µs.
func (r loadResult) cpuPerMsg() float64 {
	return float64(r.ServerUser+r.ServerSys) / float64(r.Messages) / 1e3
}

func loadMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echobench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "WebSocket URL of the echo endpoint")
	ctlAddr := fs.String("ctl", "", "address of the server's control listener")
	conns := fs.Int("conns", 100, "connections")
	msgs := fs.Int("msgs", 20000, "measured round trips per connection")
	warmup := fs.Int("warmup", 1000, "round trips per connection before measuring")
	size := fs.Int("size", 1024, "message size in bytes")
	typName := fs.String("type", "binary", "message type: binary or text")
	profile := fs.Bool("profile", false, "have the server profile its CPU during the measured phase")
	lib := fs.String("client", clientPistoke, "client library: pistoke or gorilla")
	wait := fs.Duration("wait", 0, "hold the connections quiet this long after the warm-up, before measuring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	typ, err := messageType(*typName)
	if err != nil {
		fmt.Fprintln(stderr, "echobench load:", err)
		return 2
	}
	dial, err := newDialer(*lib)
	if err != nil {
		fmt.Fprintln(stderr, "echobench load:", err)
		return 2
	}
	if err := harness.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintln(stderr, "echobench load: raising the open file limit:", err)
	}
	res, err := load(dial, *url, newCtlClient(*ctlAddr), *conns, *msgs, *warmup, typ, makePayload(*size, typ), *wait, *profile)
	return harness.Finish(stdout, stderr, "echobench load", res, err)
}

func load(dial dialer, url string, ctl *ctlClient, n, msgs, warmup, typ int, payload []byte, wait time.Duration, profile bool) (loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+wait)
	defer cancel()
	conns, err := dialAll(ctx, dial, url, n, 64)
	if err != nil {
		return loadResult{}, err
	}
	defer closeAll(conns)
	if warmup > 0 {
		if err := everyConn(conns, func(c wsClient) error { return roundTrips(c, typ, payload, warmup) }); err != nil {
			return loadResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	if wait > 0 {
		time.Sleep(wait)
		// One more round trip each, so that what the quiet time changed
		// in the server takes effect before the measured phase.
		if err := everyConn(conns, func(c wsClient) error { return roundTrips(c, typ, payload, 1) }); err != nil {
			return loadResult{}, fmt.Errorf("after the wait: %w", err)
		}
	}
	if profile {
		if err := ctl.post("/profile/cpu/start"); err != nil {
			return loadResult{}, err
		}
	}
	before, err := ctl.stats()
	if err != nil {
		return loadResult{}, err
	}
	cu0, cs0, err := harness.CPUTime()
	if err != nil {
		return loadResult{}, err
	}
	start := time.Now()
	err = everyConn(conns, func(c wsClient) error { return roundTrips(c, typ, payload, msgs) })
	wall := time.Since(start)
	if err != nil {
		return loadResult{}, err
	}
	cu1, cs1, err := harness.CPUTime()
	if err != nil {
		return loadResult{}, err
	}
	after, err := ctl.stats()
	if err != nil {
		return loadResult{}, err
	}
	if profile {
		if err := ctl.post("/profile/cpu/stop"); err != nil {
			return loadResult{}, err
		}
	}
	return loadResult{
		Conns:         n,
		Messages:      int64(n) * int64(msgs),
		ServerUser:    after.UserNanos - before.UserNanos,
		ServerSys:     after.SysNanos - before.SysNanos,
		ServerMallocs: int64(after.Mallocs - before.Mallocs),
		ServerAlloc:   int64(after.AllocBytes - before.AllocBytes),
		ServerGCs:     int64(after.NumGC - before.NumGC),
		ServerReads:   after.Reads - before.Reads,
		ServerWrites:  after.Writes - before.Writes,
		Handshakes:    after.Handshakes,
		WallNanos:     wall.Nanoseconds(),
		ClientNanos:   ((cu1 + cs1) - (cu0 + cs0)).Nanoseconds(),
	}, nil
}
