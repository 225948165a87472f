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
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pistoke/pistoke"
)

// The servers under test.
const (
	implPistoke = "pistoke"
	implGorilla = "gorilla"
)

// echoPath is where both servers serve their echo endpoint.
const echoPath = "/echo/"

// ready is the line a server prints on stdout once it listens.
type ready struct {
	WS         string `json:"ws"`  // address of the WebSocket listener
	Ctl        string `json:"ctl"` // address of the control listener
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// stats is a server's answer to GET /stats: cumulative counters that a
// client subtracts across a load phase.
type stats struct {
	UserNanos  int64  `json:"user_ns"`
	SysNanos   int64  `json:"sys_ns"`
	Mallocs    uint64 `json:"mallocs"`
	AllocBytes uint64 `json:"alloc_bytes"`
	NumGC      uint32 `json:"num_gc"`
	Active     int64  `json:"active"`     // socket handlers running
	Handshakes int64  `json:"handshakes"` // requests the middleware saw
	Goroutines int    `json:"goroutines"`
	Reads      int64  `json:"reads"`  // read system calls
	Writes     int64  `json:"writes"` // write system calls
}

// memory is a server's answer to GET /mem, taken after a full collection
// that also hands free pages back to the operating system, so that RSS
// tracks what is live.
type memory struct {
	RSS        uint64 `json:"rss"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	HeapObjs   uint64 `json:"heap_objects"`
	Goroutines int    `json:"goroutines"`
	Active     int64  `json:"active"`
}

// counters are what the server's handlers count.
type counters struct {
	active     atomic.Int64
	handshakes atomic.Int64
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echobench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	impl := fs.String("impl", implPistoke, "server to run: pistoke or gorilla")
	profileDir := fs.String("profiledir", "", "directory for profiles requested over the control listener")
	memRate := fs.Int("memprofilerate", 0, "runtime.MemProfileRate, when not 0")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *memRate != 0 {
		runtime.MemProfileRate = *memRate
	}
	if err := raiseNoFile(); err != nil {
		fmt.Fprintln(stderr, "echobench server: raising the open file limit:", err)
	}
	var cnt counters
	h, err := echoHandler(*impl, &cnt)
	if err != nil {
		fmt.Fprintln(stderr, "echobench server:", err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "echobench server:", err)
		return 1
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "echobench server:", err)
		return 1
	}
	go (&http.Server{Handler: h}).Serve(ln)
	ctl := &control{cnt: &cnt, impl: *impl, dir: *profileDir}
	go (&http.Server{Handler: ctl.handler()}).Serve(cl)
	if err := json.NewEncoder(stdout).Encode(ready{WS: ln.Addr().String(), Ctl: cl.Addr().String(), GOMAXPROCS: runtime.GOMAXPROCS(0)}); err != nil {
		return 1
	}
	// The harness holds our stdin open for as long as it needs us; when
	// it closes it, or dies, we go.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// echoHandler returns the handler tree of one server under test.
func echoHandler(impl string, cnt *counters) (http.Handler, error) {
	switch impl {
	case implPistoke:
		return pistokeEcho(cnt), nil
	case implGorilla:
		return gorillaEcho(cnt), nil
	}
	return nil, fmt.Errorf("unknown server %q (want %s or %s)", impl, implPistoke, implGorilla)
}

// pistokeEcho is the whole pistoke stack as an application would have
// it: three pass-through middleware of the usual kinds around
// pistoke.Handler, a ServeMux route for the socket, the default protocol,
// and a handler that echoes with Receive and Send.
func pistokeEcho(cnt *counters) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET "+echoPath, pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		cnt.active.Add(1)
		defer cnt.active.Add(-1)
		for {
			typ, p, err := ws.Receive()
			if err != nil {
				return err
			}
			if err := ws.Send(typ, p); err != nil {
				return err
			}
		}
	}))
	return accessLog(requestID(authenticate(pistoke.Handler(mux, pistoke.Options{Logger: quietLog}), cnt)))
}

// gorillaEcho is the plain gorilla/websocket way: an Upgrader on a
// ServeMux route, default buffer sizes, ReadMessage and WriteMessage.
func gorillaEcho(cnt *counters) http.Handler {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc(echoPath, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		cnt.active.Add(1)
		defer cnt.active.Add(-1)
		for {
			typ, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, p); err != nil {
				return
			}
		}
	})
	return mux
}

// The middleware below do what logging, request-ID and authentication
// middleware do to a request: wrap the ResponseWriter, put a value in the
// context, call the next handler. Their cost is per handshake, but what
// they leave in the request's context lives as long as the connection.

type startKey struct{}
type requestIDKey struct{}
type userKey struct{}

// served counts finished requests where an access log would write a line.
var served atomic.Int64

// logWriter remembers the status, as access-logging middleware does.
type logWriter struct {
	http.ResponseWriter
	status int
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw := &logWriter{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), startKey{}, time.Now())
		next.ServeHTTP(lw, r.WithContext(ctx))
		served.Add(1)
	})
}

// idWriter adds the request ID to the response on its way out.
type idWriter struct {
	http.ResponseWriter
	id string
}

func (w *idWriter) WriteHeader(code int) {
	w.Header().Set("X-Request-Id", w.id)
	w.ResponseWriter.WriteHeader(code)
}

func (w *idWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var lastID atomic.Uint64

func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			id = strconv.FormatUint(lastID.Add(1), 36)
		}
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		next.ServeHTTP(&idWriter{ResponseWriter: w, id: id}, r.WithContext(ctx))
	})
}

// user is what authentication middleware finds out about a client.
type user struct {
	Name  string
	Admin bool
}

// authWriter marks responses that depend on the user as private.
type authWriter struct {
	http.ResponseWriter
	u *user
}

func (w *authWriter) WriteHeader(code int) {
	w.Header().Set("Cache-Control", "private")
	w.ResponseWriter.WriteHeader(code)
}

func (w *authWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func authenticate(next http.Handler, cnt *counters) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cnt.handshakes.Add(1)
		u := &user{Name: "anonymous"}
		if c, err := r.Cookie("session"); err == nil {
			u.Name = c.Value
		}
		ctx := context.WithValue(r.Context(), userKey{}, u)
		next.ServeHTTP(&authWriter{ResponseWriter: w, u: u}, r.WithContext(ctx))
	})
}

// control serves the measurements and profiles of a server process on a
// listener of its own, so that asking for them costs the server under
// test nothing but the request itself.
type control struct {
	cnt  *counters
	impl string
	dir  string

	mu     sync.Mutex
	cpuOut *os.File
}

func (c *control) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		user, sys, err := cpuTime()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reads, writes := syscallCounts()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		writeJSON(w, stats{
			Reads:      reads,
			Writes:     writes,
			UserNanos:  user,
			SysNanos:   sys,
			Mallocs:    ms.Mallocs,
			AllocBytes: ms.TotalAlloc,
			NumGC:      ms.NumGC,
			Active:     c.cnt.active.Load(),
			Handshakes: c.cnt.handshakes.Load(),
			Goroutines: runtime.NumGoroutine(),
		})
	})
	mux.HandleFunc("GET /mem", func(w http.ResponseWriter, r *http.Request) {
		debug.FreeOSMemory() // runs a full collection first
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, err := residentBytes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, memory{
			RSS:        rss,
			HeapInuse:  ms.HeapInuse,
			StackInuse: ms.StackInuse,
			HeapObjs:   ms.HeapObjects,
			Goroutines: runtime.NumGoroutine(),
			Active:     c.cnt.active.Load(),
		})
	})
	mux.HandleFunc("POST /profile/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.dir == "" || c.cpuOut != nil {
			http.Error(w, "no profile directory, or a CPU profile is running", http.StatusConflict)
			return
		}
		f, err := os.Create(filepath.Join(c.dir, c.impl+"-cpu.pprof"))
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
	// Heap (in use and allocated) and goroutine profiles of the moment.
	mux.HandleFunc("POST /profile/heap", func(w http.ResponseWriter, r *http.Request) {
		if c.dir == "" {
			http.Error(w, "no profile directory", http.StatusConflict)
			return
		}
		runtime.GC()
		for _, p := range []struct {
			name, file string
			debug      int
		}{
			{"heap", "-heap.pprof", 0},
			{"goroutine", "-goroutine.txt", 1},
		} {
			if err := writeProfile(filepath.Join(c.dir, c.impl+p.file), p.name, p.debug); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	})
	return mux
}

func writeProfile(path, name string, debug int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, debug); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// quietLog keeps per-connection events (opened, closed) out of the
// benchmark's output; the gorilla server logs nothing either.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
