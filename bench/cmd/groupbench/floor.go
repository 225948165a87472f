package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pistoke/pistoke/bench/internal/harness"
)

// floorResult is what the floor subcommand measures: how long it takes
// just to write one small frame to each of N loopback sockets, with
// nothing else going on (no hub, no WebSocket, no reader). No fan-out on
// the same CPUs can reach its last member sooner, so it bounds the
// latency any backend can show.
type floorResult struct {
	Members    int     `json:"members"`
	Size       int     `json:"size"`
	Goroutines int     `json:"goroutines"` // writing in parallel, one per CPU the process may use
	Wall       float64 `json:"wall"`       // ns, median time to write every socket once
	PerWrite   float64 `json:"per_write"`  // ns of CPU (user+system) per write
}

// floorMain writes a frame of -size bytes to -members sockets, -rounds
// times, and prints a floorResult as JSON. Its peers are sockets of the
// a child process (floor -peer) that never reads them: the kernel's
// buffers hold every round, and no reader competes for the CPU.
func floorMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("groupbench floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	members := fs.Int("members", 1000, "sockets to write to")
	size := fs.Int("size", 64, "payload bytes of the frame")
	rounds := fs.Int("rounds", 5, "times each socket is written")
	peer := fs.String("peer", "", "internal: dial -members sockets to this address, hold them until stdin closes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *peer != "" {
		if err := floorPeer(*peer, *members, stdout); err != nil {
			fmt.Fprintln(stderr, "groupbench floor -peer:", err)
			return 1
		}
		return 0
	}
	res, err := measureFloor(*members, *size, *rounds)
	return harness.Finish(stdout, stderr, "groupbench floor", res, err)
}

func measureFloor(members, size, rounds int) (floorResult, error) {
	res := floorResult{Members: members, Size: size, Goroutines: runtime.GOMAXPROCS(0)}
	if err := harness.RaiseOpenFileLimit(); err != nil {
		return res, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer l.Close()
	self, err := harness.NewLauncher(os.Stderr)
	if err != nil {
		return res, err
	}
	peer, err := harness.Start(self.Command(context.Background(), nil,
		"floor", "-peer", l.Addr().String(), "-members", strconv.Itoa(members)))
	if err != nil {
		return res, err
	}
	defer peer.Stop(time.Minute)
	writers := make([]net.Conn, 0, members)
	defer func() {
		for _, c := range writers {
			c.Close()
		}
	}()
	for range members {
		w, err := l.Accept()
		if err != nil {
			return res, fmt.Errorf("accept: %w", err)
		}
		writers = append(writers, w)
	}
	if _, err := peer.Stdout().ReadString('\n'); err != nil {
		return res, fmt.Errorf("peer: %w", err)
	}
	// A server frame of a binary message: a 2- or 4-byte header, then
	// the payload.
	frame := make([]byte, 2+size)
	if size > 125 {
		frame = make([]byte, 4+size)
	}
	walls := make([]float64, 0, rounds)
	u0, s0, err := harness.CPUTime()
	if err != nil {
		return res, err
	}
	g := res.Goroutines
	for range rounds {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, g)
		for i := range g {
			part := writers[i*members/g : (i+1)*members/g]
			wg.Go(func() {
				for _, c := range part {
					if _, err := c.Write(frame); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		walls = append(walls, float64(time.Since(start)))
		for _, err := range errs {
			if err != nil {
				return res, err
			}
		}
	}
	u1, s1, err := harness.CPUTime()
	if err != nil {
		return res, err
	}
	slices.Sort(walls)
	res.Wall = walls[len(walls)/2]
	res.PerWrite = float64(u1-u0+s1-s0) / float64(rounds*members)
	return res, nil
}

// floorPeer dials n sockets to addr, says so on stdout, and holds them,
// unread, until stdin closes.
func floorPeer(addr string, n int, stdout io.Writer) error {
	if err := harness.RaiseOpenFileLimit(); err != nil {
		return err
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	fmt.Fprintln(stdout, "ready")
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}
