package groups_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/pistoketest"
)

// An idle member must stay cheap beside its socket (pistoke's idle
// socket takes about 10 KiB): no goroutine, and a few hundred bytes of
// heap.
func TestIdleMemberCost(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of sockets")
	}
	const n = 2000
	ctx := context.Background()
	hub, err := groups.New(ctx, nil, &groups.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /{id}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		for _, msg := range ws.Messages() {
			if string(msg) == "join" {
				id := ws.Request().PathValue("id")
				if _, err := hub.Join(ws, "g", &groups.JoinOptions{Presence: &groups.Member{ID: id}}); err != nil {
					return err
				}
			}
			if err := ws.Send(pistoke.Text, msg); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger(), PingInterval: -1}))
	defer c.Close()
	conns := make([]*pistoketest.Conn, n)
	roundTrip := func(msg string) {
		t.Helper()
		for _, ws := range conns {
			if err := ws.SendText(msg); err != nil {
				t.Fatal(err)
			}
		}
		for _, ws := range conns {
			if got, err := ws.ReceiveText(); got != msg {
				t.Fatalf("got %q (%v), want %q", got, err, msg)
			}
		}
	}
	for i := range conns {
		ws, err := c.Dial(ctx, "/"+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = ws
	}
	defer func() {
		for _, ws := range conns {
			ws.Close()
		}
	}()
	// Both measures are of sockets idle after a message each way.
	roundTrip("hello")
	heap0, g0 := heapInUse(), runtime.NumGoroutine()
	roundTrip("join")
	heap1, g1 := heapInUse(), runtime.NumGoroutine()

	perMember := float64(heap1-heap0) / n
	t.Logf("an idle member costs %.0f B of heap and %d goroutines for %d members", perMember, g1-g0, n)
	if perMember > 1024 {
		t.Errorf("an idle member costs %.0f B, want at most 1 KiB", perMember)
	}
	// No goroutine per member; the runtime and the transport may start or
	// end a few of their own meanwhile on a loaded machine.
	if g1-g0 >= n/20 {
		t.Errorf("%d idle members added %d goroutines", n, g1-g0)
	}
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
