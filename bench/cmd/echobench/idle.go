package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// idleResult is what an idle process prints: the server's memory before
// the connections opened, once they had all opened, once each had echoed
// one message and gone quiet again, and, when asked, once they had been
// quiet for a while longer (Waited after the echo; 0 when not asked) and
// then echoed one more message.
type idleResult struct {
	Conns  int           `json:"conns"`
	Before memory        `json:"before"`
	Opened memory        `json:"opened"`
	Echoed memory        `json:"echoed"`
	Waited time.Duration `json:"waited_ns"`
	Later  memory        `json:"later"`
}

func idleMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echobench idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "WebSocket URL of the echo endpoint")
	ctlAddr := fs.String("ctl", "", "address of the server's control listener")
	n := fs.Int("conns", 10000, "idle connections to hold")
	size := fs.Int("size", 1024, "size of the one message each connection echoes")
	typName := fs.String("type", "binary", "message type: binary or text")
	profile := fs.Bool("profile", false, "have the server write heap and goroutine profiles at the end")
	lib := fs.String("client", clientPistoke, "client library: pistoke or gorilla")
	wait := fs.Duration("wait", 0, "after the echo, hold the connections this much longer, echo once more and measure again (0: don't)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	typ, err := messageType(*typName)
	if err != nil {
		fmt.Fprintln(stderr, "echobench idle:", err)
		return 2
	}
	dial, err := newDialer(*lib)
	if err != nil {
		fmt.Fprintln(stderr, "echobench idle:", err)
		return 2
	}
	if err := harness.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintln(stderr, "echobench idle: raising the open file limit:", err)
	}
	if lim := harness.OpenFileLimit(); lim != 0 && lim < uint64(*n)+64 {
		fmt.Fprintf(stderr, "echobench idle: %d connections need more open files than the limit of %d\n", *n, lim)
		return 1
	}
	res, err := idle(dial, *url, newCtlClient(*ctlAddr), *n, typ, makePayload(*size, typ), *wait, *profile)
	return harness.Finish(stdout, stderr, "echobench idle", res, err)
}

func idle(dial dialer, url string, ctl *ctlClient, n, typ int, payload []byte, wait time.Duration, profile bool) (idleResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+wait)
	defer cancel()
	res := idleResult{Conns: n}

	// A few connections first, so that what the server sets up once
	// (pools, the accept path, the handler tree) is in the baseline.
	warm, err := dialAll(ctx, dial, url, 8, 8)
	if err != nil {
		return res, err
	}
	if err := everyConn(warm, func(c wsClient) error { return roundTrips(c, typ, payload, 1) }); err != nil {
		return res, err
	}
	closeAll(warm)
	if err := ctl.waitActive(0, time.Minute); err != nil {
		return res, err
	}
	if res.Before, err = ctl.mem(); err != nil {
		return res, err
	}

	conns, err := dialAll(ctx, dial, url, n, 64)
	if err != nil {
		return res, err
	}
	// The client's sockets close when their Conns are collected, so they
	// stay referenced to the end.
	defer runtime.KeepAlive(conns)
	if err := ctl.waitActive(int64(n), time.Minute); err != nil {
		return res, err
	}
	if res.Opened, err = ctl.mem(); err != nil {
		return res, err
	}
	if err := everyConn(conns, func(c wsClient) error { return roundTrips(c, typ, payload, 1) }); err != nil {
		return res, err
	}
	if res.Echoed, err = ctl.mem(); err != nil {
		return res, err
	}
	if wait > 0 {
		// Quiet sockets still see the server's keepalive pings, which
		// may change what they hold from the next message on.
		time.Sleep(wait)
		res.Waited = wait
		if err := everyConn(conns, func(c wsClient) error { return roundTrips(c, typ, payload, 1) }); err != nil {
			return res, err
		}
		if res.Later, err = ctl.mem(); err != nil {
			return res, err
		}
	}
	if profile {
		if err := ctl.post("/profile/heap"); err != nil {
			return res, err
		}
	}
	return res, nil
}
