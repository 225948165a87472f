package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
)

// groupName is the one group every member joins.
const groupName = "bench"

// memberPath is where the server serves the members' sockets.
const memberPath = "/group/"

// ready is the line a server prints on stdout once it listens.
type ready struct {
	WS         string `json:"ws"`  // address of the WebSocket listener
	Ctl        string `json:"ctl"` // address of the control listener
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// serverStats is a server's answer to GET /stats: cumulative counters
// that the client subtracts across a trial.
type serverStats struct {
	UserNanos  int64  `json:"user_ns"`
	SysNanos   int64  `json:"sys_ns"`
	Mallocs    uint64 `json:"mallocs"`
	AllocBytes uint64 `json:"alloc_bytes"`
	NumGC      uint32 `json:"num_gc"`
	Writes     int64  `json:"writes"`  // write system calls
	Joined     int64  `json:"joined"`  // sockets in the group
	Dropped    int64  `json:"dropped"` // Hub.Dropped
	Goroutines int    `json:"goroutines"`
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("groupbench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", backendLocal, "backend of the hub: local, redis or nats")
	url := fs.String("url", "", "broker URL of the redis and nats backends")
	queue := fs.Int("queue", 0, "groups.Options.QueueSize (0: the default)")
	profileDir := fs.String("profiledir", "", "directory for CPU profiles requested over the control listener")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := raiseNoFile(); err != nil {
		fmt.Fprintln(stderr, "groupbench server: raising the open file limit:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	b, err := openBackend(ctx, *backend, *url)
	if err == nil {
		var hub *groups.Hub
		hub, err = groups.New(ctx, b, &groups.Options{QueueSize: *queue, Logger: hubLog})
		if err == nil {
			defer hub.Close()
			cancel()
			return serve(hub, *profileDir, stdout, stderr)
		}
	}
	cancel()
	fmt.Fprintf(stderr, "groupbench server: %s backend: %v\n", *backend, err)
	return 1
}

// serve runs the server around hub until stdin closes.
func serve(hub *groups.Hub, profileDir string, stdout, stderr io.Writer) int {
	var joined atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET "+memberPath, pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if _, err := hub.Join(ws, groupName, nil); err != nil {
			return err
		}
		joined.Add(1)
		defer joined.Add(-1)
		// Members only listen; reading is how the handler learns that its
		// client left. The membership ends with the socket.
		for {
			if _, _, err := ws.Receive(); err != nil {
				return nil
			}
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "groupbench server:", err)
		return 1
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "groupbench server:", err)
		return 1
	}
	go (&http.Server{Handler: pistoke.Handler(mux, pistoke.Options{Logger: quietLog})}).Serve(ln)
	ctl := &control{hub: hub, joined: &joined, dir: profileDir, pub: &publisher{hub: hub, next: 1}}
	go (&http.Server{Handler: ctl.handler()}).Serve(cl)
	if err := json.NewEncoder(stdout).Encode(ready{WS: ln.Addr().String(), Ctl: cl.Addr().String(), GOMAXPROCS: runtime.GOMAXPROCS(0)}); err != nil {
		return 1
	}
	// The harness holds our stdin open for as long as it needs us; when
	// it closes it, or dies, we go.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// control serves the measurements, the publisher and the profiles of a
// server process on a listener of its own, so that asking for them costs
// the hub nothing but the request itself.
type control struct {
	hub    *groups.Hub
	joined *atomic.Int64
	dir    string
	pub    *publisher

	mu     sync.Mutex
	cpuOut *os.File
}

// profileName is what a profile may be called: it becomes a file name.
var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func (c *control) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		user, sys, err := cpuTime()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		writeJSON(w, serverStats{
			UserNanos:  user,
			SysNanos:   sys,
			Mallocs:    ms.Mallocs,
			AllocBytes: ms.TotalAlloc,
			NumGC:      ms.NumGC,
			Writes:     writeCalls(),
			Joined:     c.joined.Load(),
			Dropped:    c.hub.Dropped(),
			Goroutines: runtime.NumGoroutine(),
		})
	})
	// POST /publish?rate=R&duration=D&size=S publishes S-byte messages to
	// the group, R a second for D (R = 0: as fast as the hub takes them),
	// and answers when the last Publish has returned.
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rate, err1 := strconv.ParseFloat(q.Get("rate"), 64)
		d, err2 := time.ParseDuration(q.Get("duration"))
		size, err3 := strconv.Atoi(q.Get("size"))
		if err1 != nil || err2 != nil || err3 != nil || rate < 0 || d <= 0 || size < minSize {
			http.Error(w, fmt.Sprintf("want rate ≥ 0, a duration > 0 and size ≥ %d", minSize), http.StatusBadRequest)
			return
		}
		writeJSON(w, c.pub.run(r.Context(), rate, d, size))
	})
	mux.HandleFunc("POST /profile/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		name := r.URL.Query().Get("name")
		if c.dir == "" || c.cpuOut != nil || !profileName.MatchString(name) {
			http.Error(w, "no profile directory, a CPU profile is running, or no valid name", http.StatusConflict)
			return
		}
		f, err := os.Create(filepath.Join(c.dir, name+"-cpu.pprof"))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		c.cpuOut = f
	})
	mux.HandleFunc("POST /profile/cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cpuOut == nil {
			http.Error(w, "no CPU profile is running", http.StatusConflict)
			return
		}
		pprof.StopCPUProfile()
		err := c.cpuOut.Close()
		c.cpuOut = nil
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// quietLog keeps per-connection events out of the benchmark's output.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// hubLog leaves out the hub's warnings too: the benchmark overloads
// members on purpose and counts what they miss, so a warning per slow
// member would only bury the report.
var hubLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
