package pistoke_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/pistoke/pistoke"
)

// roomRouters builds the same two routes with ServeMux and with chi: a
// page and a socket at /room/{room}. The socket handler waits until
// others have been routed meanwhile, then reports the room it reads.
func roomRouters(gate <-chan struct{}, got chan<- string) map[string]http.Handler {
	socket := func(param func(*http.Request) string) pistoke.HandlerFunc {
		return func(ws *pistoke.Conn) error {
			if err := ws.SendText("ready"); err != nil {
				return err
			}
			<-gate
			got <- param(ws.Request())
			return nil
		}
	}
	page := func(param func(*http.Request) string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, param(r)) }
	}

	mux := http.NewServeMux()
	muxParam := func(r *http.Request) string { return r.PathValue("room") }
	mux.Handle("WEBSOCKET /room/{room}", socket(muxParam))
	mux.Handle("GET /room/{room}", page(muxParam))

	chi.RegisterMethod(pistoke.MethodWebsocket)
	cr := chi.NewRouter()
	chiParam := func(r *http.Request) string { return chi.URLParam(r, "room") }
	cr.Method(pistoke.MethodWebsocket, "/room/{room}", socket(chiParam))
	cr.Get("/room/{room}", page(chiParam))

	// chi outside Handler, as when pistoke serves one part of a site.
	outer := chi.NewRouter()
	inner := pistoke.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == pistoke.MethodWebsocket {
			socket(chiParam).ServeHTTP(w, r)
			return
		}
		page(chiParam).ServeHTTP(w, r)
	}), pistoke.Options{Logger: slog.New(slog.DiscardHandler)})
	outer.Handle("/room/{room}", inner)

	return map[string]http.Handler{"ServeMux": mux, "chi": cr, "chi outside Handler": outer}
}

// A router's per-request state (chi pools its routing context) must stay
// the socket's own while the socket lives, however many requests the
// router serves meanwhile.
func TestHandlersKeepTheirRouteParams(t *testing.T) {
	const sockets, gets = 24, 48
	for name := range roomRouters(nil, nil) {
		t.Run(name, func(t *testing.T) {
			gate := make(chan struct{})
			got := make(chan string, sockets)
			h := roomRouters(gate, got)[name]
			if name != "chi outside Handler" {
				h = pistoke.Handler(h, pistoke.Options{Logger: quietLogger()})
			}
			base := serve(t, h)

			var wg sync.WaitGroup
			conns := make([]*pistoke.Conn, sockets)
			for i := range conns {
				wg.Go(func() {
					conns[i] = dialOK(t, fmt.Sprintf("%s/room/kitchen-%d", base, i), nil)
					expectText(t, conns[i], "ready")
				})
			}
			wg.Wait()
			// Each socket's handler is now waiting with its routing state
			// live; route plenty of other requests through the same router.
			httpBase := "http" + base[len("ws"):]
			for i := range gets {
				wg.Go(func() {
					resp, err := http.Get(fmt.Sprintf("%s/room/garden-%d", httpBase, i))
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if want := fmt.Sprintf("garden-%d", i); string(b) != want {
						t.Errorf("page read %q, want %q", b, want)
					}
				})
			}
			wg.Wait()
			close(gate)
			seen := map[string]bool{}
			for range sockets {
				seen[<-got] = true
			}
			for i := range sockets {
				if room := fmt.Sprintf("kitchen-%d", i); !seen[room] {
					t.Errorf("no socket handler read %q; handlers read %v", room, seen)
				}
			}
			for _, ws := range conns {
				expectClose(t, ws, pistoke.CloseNormal)
			}
		})
	}
}

// pooledState is per-request state that middleware takes from a pool
// and puts back, poisoned, when next.ServeHTTP returns.
type pooledState struct{ owner string }

type stateKey struct{}

func pooling(pool *sync.Pool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := pool.Get().(*pooledState)
		st.owner = r.URL.Path
		defer func() {
			st.owner = "poisoned"
			pool.Put(st)
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

// Middleware that cleans up after next.ServeHTTP does so when the socket
// closes, not when it opens.
func TestMiddlewareCleanupRunsWhenTheSocketCloses(t *testing.T) {
	pool := &sync.Pool{New: func() any { return new(pooledState) }}
	var cleanedEarly atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /ws/{n}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		st := ws.Request().Context().Value(stateKey{}).(*pooledState)
		for _, msg := range ws.Messages() {
			if st.owner != ws.Request().URL.Path {
				cleanedEarly.Store(true)
			}
			if err := ws.SendText(st.owner + " " + string(msg)); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	mux.HandleFunc("GET /page/{n}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Context().Value(stateKey{}).(*pooledState).owner)
	})
	returned := make(chan string, 8)
	tracking := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if pistoke.IsWebsocket(r) {
				returned <- r.URL.Path
			}
		})
	}
	base := serve(t, pistoke.Handler(tracking(pooling(pool, mux)), pistoke.Options{Logger: quietLogger()}))
	httpBase := "http" + base[len("ws"):]

	ws := dialOK(t, base+"/ws/1", nil)
	for i := range 20 {
		resp, err := http.Get(fmt.Sprintf("%s/page/%d", httpBase, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if err := ws.SendText("hi"); err != nil {
			t.Fatal(err)
		}
		expectText(t, ws, "/ws/1 hi")
	}
	select {
	case p := <-returned:
		t.Fatalf("middleware returned for %s while the socket was open", p)
	default:
	}
	if err := ws.Close(pistoke.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	if p := <-returned; p != "/ws/1" {
		t.Errorf("middleware returned for %q, want /ws/1", p)
	}
	if cleanedEarly.Load() {
		t.Error("the handler saw its middleware's state cleaned up while the socket was open")
	}
}

// The tree's context outlives net/http's request but ends with the
// socket.
func TestTreeContextEndsWithTheSocket(t *testing.T) {
	treeDone := make(chan error, 1)
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if pistoke.IsWebsocket(r) {
				ctx := r.Context()
				context.AfterFunc(ctx, func() { treeDone <- ctx.Err() })
			}
			next.ServeHTTP(w, r)
		})
	}
	release := make(chan struct{})
	h := pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if err := ws.SendText("open"); err != nil {
			return err
		}
		<-release
		return nil
	})
	base := serve(t, pistoke.Handler(mw(h), pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/", nil)
	expectText(t, ws, "open")
	select {
	case err := <-treeDone:
		t.Fatalf("the tree's context ended while the socket was open: %v", err)
	default:
	}
	close(release)
	expectClose(t, ws, pistoke.CloseNormal)
	if err := <-treeDone; err != context.Canceled {
		t.Errorf("tree context ended with %v, want context.Canceled", err)
	}
}
