package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// handshakeSize is the size of the one message each connection of the
// handshake test echoes. The echo makes both servers go all the way:
// pistoke sends its 101 response when the handler first receives, so a
// connection that only opened and closed would skip part of its work.
const handshakeSize = 16

// hsResult is what a handshake process prints: the server's counters
// across the measured handshakes only.
type hsResult struct {
	Handshakes    int   `json:"handshakes"` // connections opened, echoed once and closed
	Par           int   `json:"par"`        // of them at a time
	ServerUser    int64 `json:"server_user_ns"`
	ServerSys     int64 `json:"server_sys_ns"`
	ServerMallocs int64 `json:"server_mallocs"`
	ServerAlloc   int64 `json:"server_alloc_bytes"`
	ServerReads   int64 `json:"server_reads"`
	ServerWrites  int64 `json:"server_writes"`
	Seen          int64 `json:"seen"` // handshakes the server's middleware saw in the measured phase
	WallNanos     int64 `json:"wall_ns"`
	ClientNanos   int64 `json:"client_cpu_ns"`
}

// cpuPerHandshake returns the server CPU time per handshake, in µs.
func (r hsResult) cpuPerHandshake() float64 {
	return float64(r.ServerUser+r.ServerSys) / float64(r.Handshakes) / 1e3
}

func handshakeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echobench handshake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wsURL := fs.String("url", "", "WebSocket URL of the echo endpoint")
	ctlAddr := fs.String("ctl", "", "address of the server's control listener")
	n := fs.Int("n", 20000, "measured handshakes")
	warmup := fs.Int("warmup", 1000, "handshakes before measuring")
	par := fs.Int("par", 4, "handshakes at a time")
	typName := fs.String("type", "binary", "message type: binary or text")
	profile := fs.String("profile", "", "have the server profile its CPU during the measured phase, under this name")
	lib := fs.String("client", clientPistoke, "client library: pistoke or gorilla")
	size := fs.Int("size", handshakeSize, "size of the one message each connection echoes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	typ, err := messageType(*typName)
	if err != nil {
		fmt.Fprintln(stderr, "echobench handshake:", err)
		return 2
	}
	dial, err := newDialer(*lib)
	if err != nil {
		fmt.Fprintln(stderr, "echobench handshake:", err)
		return 2
	}
	if *n < 1 || *par < 1 || *warmup < 0 || *size < 0 {
		fmt.Fprintln(stderr, "echobench handshake: -n and -par must be positive, -warmup and -size not negative")
		return 2
	}
	res, err := handshakes(dial, *wsURL, newCtlClient(*ctlAddr), *n, *warmup, *par, typ, makePayload(*size, typ), *profile)
	return harness.Finish(stdout, stderr, "echobench handshake", res, err)
}

// handshakes opens n connections to url, par at a time, each of which
// echoes payload once and closes with a closing handshake, and returns
// what the server spent on them.
func handshakes(dial dialer, wsURL string, ctl *ctlClient, n, warmup, par, typ int, payload []byte, profile string) (hsResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	one := func(int) error {
		c, err := dial(ctx, wsURL)
		if err != nil {
			return err
		}
		defer c.close()
		return roundTrips(c, typ, payload, 1)
	}
	// The first handshakes set up what the server does once (pools, the
	// accept path, the handler tree, the stacks of its goroutines).
	if err := harness.Parallel(warmup, par, one); err != nil {
		return hsResult{}, fmt.Errorf("warm-up: %w", err)
	}
	if err := ctl.waitActive(0, time.Minute); err != nil {
		return hsResult{}, err
	}
	if profile != "" {
		if err := ctl.Post(ctx, "/profile/cpu/start?"+url.Values{"name": {profile}}.Encode()); err != nil {
			return hsResult{}, err
		}
	}
	before, err := ctl.stats()
	if err != nil {
		return hsResult{}, err
	}
	cu0, cs0, err := harness.CPUTime()
	if err != nil {
		return hsResult{}, err
	}
	start := time.Now()
	if err := harness.Parallel(n, par, one); err != nil {
		return hsResult{}, err
	}
	// What the server does after its close frame (the end of the
	// handler, the tree's unwinding, closing the socket) is part of
	// the handshake's cost.
	if err := ctl.waitActive(0, time.Minute); err != nil {
		return hsResult{}, err
	}
	wall := time.Since(start)
	cu1, cs1, err := harness.CPUTime()
	if err != nil {
		return hsResult{}, err
	}
	after, err := ctl.stats()
	if err != nil {
		return hsResult{}, err
	}
	if profile != "" {
		if err := ctl.post("/profile/cpu/stop"); err != nil {
			return hsResult{}, err
		}
	}
	return hsResult{
		Handshakes:    n,
		Par:           par,
		ServerUser:    after.UserNanos - before.UserNanos,
		ServerSys:     after.SysNanos - before.SysNanos,
		ServerMallocs: int64(after.Mallocs - before.Mallocs),
		ServerAlloc:   int64(after.AllocBytes - before.AllocBytes),
		ServerReads:   after.Reads - before.Reads,
		ServerWrites:  after.Writes - before.Writes,
		Seen:          after.Handshakes - before.Handshakes,
		WallNanos:     wall.Nanoseconds(),
		ClientNanos:   ((cu1 + cs1) - (cu0 + cs0)).Nanoseconds(),
	}, nil
}
