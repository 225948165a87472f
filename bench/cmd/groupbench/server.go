package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/bench/internal/harness"
	"github.com/pistoke/pistoke/groups"
)

// groupName is the one group every member joins.
const groupName = "bench"

// memberPath is where the server serves the members' sockets.
const memberPath = "/group/"

// serverStats is a server's answer to GET /stats: cumulative counters
// that the client subtracts across a trial.
type serverStats struct {
	harness.Usage
	Joined  int64 `json:"joined"`  // sockets in the group
	Dropped int64 `json:"dropped"` // Hub.Dropped
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("groupbench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", backendLocal, "backend of the hub: local, redis or nats")
	url := fs.String("url", "", "broker URL of the redis and nats backends")
	queue := fs.Int("queue", 0, "groups.Options.QueueSize (0: the default)")
	profileDir := fs.String("profiledir", "", "directory for CPU profiles requested over the control listener")
	procs := fs.Int("procs", 0, "GOMAXPROCS of the server, set before the hub starts its writers (0: Go's default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if err := harness.RaiseOpenFileLimit(); err != nil {
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
	ctl := control(hub, &joined, profileDir)
	if err := harness.Serve(os.Stdin, stdout, pistoke.Handler(mux, pistoke.Options{Logger: quietLog}), ctl); err != nil {
		fmt.Fprintln(stderr, "groupbench server:", err)
		return 1
	}
	return 0
}

// control returns the handler of the control listener of a server
// around hub, with joined sockets in the group, whose profiles go to
// dir ("" for none). It serves the measurements, the publisher and the
// profiles of the server process on a listener of its own, so that
// asking for them costs the hub nothing but the request itself.
func control(hub *groups.Hub, joined *atomic.Int64, dir string) http.Handler {
	mux := harness.NewControl(dir, "", func(u harness.Usage) any {
		return serverStats{Usage: u, Joined: joined.Load(), Dropped: hub.Dropped()}
	})
	pub := &publisher{hub: hub, next: 1}
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
		harness.WriteJSON(w, pub.run(r.Context(), rate, d, size))
	})
	return mux
}

// quietLog keeps per-connection events out of the benchmark's output.
var quietLog = harness.Logger(slog.LevelWarn)

// hubLog leaves out the hub's warnings too: the benchmark overloads
// members on purpose and counts what they miss, so a warning per slow
// member would only bury the report.
var hubLog = harness.Logger(slog.LevelError)
