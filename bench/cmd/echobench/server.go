package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/bench/internal/harness"
)

// The servers under test.
const (
	implPistoke    = "pistoke"
	implPistokeChi = "pistoke-chi" // the same stack with chi as the router
	implGorilla    = "gorilla"
)

// allImpls lists the servers under test.
var allImpls = []string{implPistoke, implPistokeChi, implGorilla}

// The chi router routes the WEBSOCKET method only once it knows it.
func init() { chi.RegisterMethod(pistoke.MethodWebsocket) }

// echoPath is where both servers serve their echo endpoint.
const echoPath = "/echo/"

// stats is a server's answer to GET /stats: cumulative counters that a
// client subtracts across a load phase.
type stats struct {
	harness.Usage
	Active     int64 `json:"active"`     // socket handlers running
	Handshakes int64 `json:"handshakes"` // requests the middleware saw
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
	impl := fs.String("impl", implPistoke, "server to run: "+strings.Join(allImpls, ", "))
	profileDir := fs.String("profiledir", "", "directory for profiles requested over the control listener")
	memRate := fs.Int("memprofilerate", 0, "runtime.MemProfileRate, when not 0")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *memRate != 0 {
		runtime.MemProfileRate = *memRate
	}
	if err := harness.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintln(stderr, "echobench server: raising the open file limit:", err)
	}
	var cnt counters
	h, err := echoHandler(*impl, &cnt)
	if err != nil {
		fmt.Fprintln(stderr, "echobench server:", err)
		return 2
	}
	if err := harness.Serve(os.Stdin, stdout, h, control(&cnt, *impl, *profileDir)); err != nil {
		fmt.Fprintln(stderr, "echobench server:", err)
		return 1
	}
	return 0
}

// echoHandler returns the handler tree of one server under test.
func echoHandler(impl string, cnt *counters) (http.Handler, error) {
	switch impl {
	case implPistoke:
		return pistokeEcho(cnt), nil
	case implPistokeChi:
		return pistokeChiEcho(cnt), nil
	case implGorilla:
		return gorillaEcho(cnt), nil
	}
	return nil, fmt.Errorf("unknown server %q (want one of %s)", impl, strings.Join(allImpls, ", "))
}

// pistokeEcho is the whole pistoke stack as an application would have
// it, laid out as pistoke recommends: pistoke.Handler outermost, as the
// http.Server's own Handler, around three pass-through middleware of the
// usual kinds, a ServeMux route for the socket, the default protocol,
// and a handler that echoes with Receive and Send.
func pistokeEcho(cnt *counters) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET "+echoPath, echoSocket(cnt))
	return pistokeStack(mux, cnt)
}

// pistokeChiEcho is pistokeEcho with chi as the router instead of
// http.ServeMux.
func pistokeChiEcho(cnt *counters) http.Handler {
	r := chi.NewRouter()
	r.Method(pistoke.MethodWebsocket, echoPath, echoSocket(cnt))
	return pistokeStack(r, cnt)
}

// pistokeStack wraps router in the middleware, and those in
// pistoke.Handler, which the server must have as its Handler so that
// net/http's connection goroutine returns at the upgrade: with anything
// outside pistoke.Handler, it stays for the life of each socket.
func pistokeStack(router http.Handler, cnt *counters) http.Handler {
	return pistoke.Handler(accessLog(requestID(authenticate(router, cnt))), pistoke.Options{Logger: quietLog})
}

// echoSocket is the socket handler of both pistoke servers: it echoes
// every message with Receive and Send. Its first Receive sends the 101
// response.
func echoSocket(cnt *counters) pistoke.HandlerFunc {
	return func(ws *pistoke.Conn) error {
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
	}
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

// control returns the handler of the control listener of the server
// impl, whose profiles go to dir ("" for none). It serves the
// measurements and profiles of the server process on a listener of its
// own, so that asking for them costs the server under test nothing but
// the request itself.
func control(cnt *counters, impl, dir string) http.Handler {
	mux := harness.NewControl(dir, impl, func(u harness.Usage) any {
		return stats{Usage: u, Active: cnt.active.Load(), Handshakes: cnt.handshakes.Load()}
	})
	mux.HandleFunc("GET /mem", func(w http.ResponseWriter, r *http.Request) {
		debug.FreeOSMemory() // runs a full collection first
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, err := harness.ResidentBytes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		harness.WriteJSON(w, memory{
			RSS:        rss,
			HeapInuse:  ms.HeapInuse,
			StackInuse: ms.StackInuse,
			HeapObjs:   ms.HeapObjects,
			Goroutines: runtime.NumGoroutine(),
			Active:     cnt.active.Load(),
		})
	})
	// Heap (in use and allocated) and goroutine profiles of the moment.
	mux.HandleFunc("POST /profile/heap", func(w http.ResponseWriter, r *http.Request) {
		if dir == "" {
			http.Error(w, harness.ErrNoProfileDir.Error(), http.StatusConflict)
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
			if err := writeProfile(filepath.Join(dir, impl+p.file), p.name, p.debug); err != nil {
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

// quietLog keeps per-connection events (opened, closed) out of the
// benchmark's output; the gorilla server logs nothing either.
var quietLog = harness.Logger(slog.LevelWarn)
