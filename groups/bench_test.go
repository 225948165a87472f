package groups_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/pistoketest"
)

// BenchmarkPublish measures the in-process fan-out of 128-byte messages
// to 1000 members whose clients read over in-memory connections: one
// operation is one message published and received by every member.
func BenchmarkPublish(b *testing.B) {
	const members = 1000
	ctx := context.Background()
	hub, err := groups.New(ctx, nil, &groups.Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if _, err := hub.Join(ws, "g", nil); err != nil {
			return err
		}
		if err := ws.SendText("joined"); err != nil {
			return err
		}
		_, _, err := ws.Receive()
		return err
	}))
	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger(), PingInterval: -1}))
	defer c.Close()
	conns := make([]*pistoketest.Conn, members)
	for i := range conns {
		ws, err := c.Dial(ctx, "/", nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ws.ReceiveText(); err != nil {
			b.Fatal(err)
		}
		conns[i] = ws
	}
	msg := make([]byte, 128)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	// Publish in rounds no larger than a member's queue, waiting for
	// every member to receive a round, so that nothing is dropped.
	const round = groups.DefaultQueueSize / 2
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += round {
		n := min(round, b.N-sent)
		for range n {
			if err := hub.Publish(ctx, "g", pistoke.Binary, msg); err != nil {
				b.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for _, ws := range conns {
			wg.Go(func() {
				for range n {
					if _, _, err := ws.Receive(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/members, "ns/delivery")
	if d := hub.Dropped(); d != 0 {
		b.Errorf("%d messages dropped", d)
	}
	for i, ws := range conns {
		if err := ws.Close(); err != nil {
			b.Errorf("member %d: %v", i, err)
		}
	}
}
