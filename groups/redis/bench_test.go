package redis

import (
	"context"
	"testing"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/testservers"
)

// BenchmarkPublishDeliver measures one node publishing 64-byte messages
// that another node receives, through a local redis-server: the cost of
// the backend and broker on the path of every message.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, sharded := range []bool{false, true} {
		name := "publish"
		if sharded {
			name = "spublish"
		}
		b.Run(name, func(b *testing.B) {
			srv := testservers.StartRedis(b)
			ctx := context.Background()
			open := func(deliver func(string, []byte)) *backend {
				gb, err := New(ctx, Options{URL: srv.URL(), Sharded: sharded, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				if err := gb.Open(ctx, deliver); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { gb.Close() })
				return gb.(*backend)
			}
			done := make(chan struct{})
			n := 0
			sub := open(func(string, []byte) {
				if n++; n == b.N {
					close(done)
				}
			})
			pub := open(func(string, []byte) {})
			if err := sub.Subscribe(ctx, "room"); err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 64)
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			// Several publishers, as several handlers of a node would be.
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := pub.Publish(ctx, "room", msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			<-done
		})
	}
}

// BenchmarkPresenceList measures listing a group of 100 members spread
// over three nodes.
func BenchmarkPresenceList(b *testing.B) {
	srv := testservers.StartRedis(b)
	ctx := context.Background()
	var nodes []*backend
	for range 3 {
		gb, err := New(ctx, Options{URL: srv.URL(), Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if err := gb.Open(ctx, func(string, []byte) {}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { gb.Close() })
		nodes = append(nodes, gb.(*backend))
	}
	for i := range 100 {
		key := string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := nodes[i%3].Presence().Add(ctx, "room", key, groups.Member{ID: key, Meta: map[string]string{"name": "member " + key}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		ms, err := nodes[0].Presence().List(ctx, "room")
		if err != nil || len(ms) != 100 {
			b.Fatalf("%d members, %v", len(ms), err)
		}
	}
}
