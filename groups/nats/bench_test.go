package nats

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
	"github.com/pistoke/pistoke/internal/testservers"
)

// benchBackend opens a backend for a benchmark.
func benchBackend(b *testing.B, url string, deliver func(string, []byte)) groups.Backend {
	b.Helper()
	ctx := context.Background()
	be, err := New(ctx, Options{URL: url, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if deliver == nil {
		deliver = func(string, []byte) {}
	}
	if err := be.Open(ctx, deliver); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

// BenchmarkPublishDeliver measures a message's trip from Publish on one
// node through the server to deliver on another, with at most window
// messages in flight so that no one drops any.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, size := range []int{128, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			srv := testservers.StartNATS(b)
			var got atomic.Int64
			wake := make(chan struct{}, 1)
			sub := benchBackend(b, srv.URL(), func(string, []byte) {
				got.Add(1)
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			pub := benchBackend(b, srv.URL(), nil)
			ctx := context.Background()
			if err := sub.Subscribe(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			const window = 4096
			wait := func(n int64) {
				timeout := time.NewTimer(time.Minute)
				defer timeout.Stop()
				for got.Load() < n {
					select {
					case <-wake:
					case <-timeout.C:
						b.Fatalf("delivered %d of %d", got.Load(), n)
					}
				}
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				if i >= window {
					wait(int64(i - window + 1))
				}
				if err := pub.Publish(ctx, "bench", msg); err != nil {
					b.Fatal(err)
				}
			}
			wait(int64(b.N))
		})
	}
}

// BenchmarkPresenceList measures a List over three nodes holding 100
// entries each, every node answering.
// BenchmarkPresenceList lists a group of 300 members spread over three
// nodes: with short IDs, with members as large as a hub accepts, and with
// short IDs beside one entry too large for the server's max_payload,
// which its node leaves out without delaying the list.
func BenchmarkPresenceList(b *testing.B) {
	short := func(n, i int) groups.Member { return groups.Member{ID: fmt.Sprint("user", n, "-", i)} }
	b.Run("short", func(b *testing.B) { benchPresenceList(b, short, false) })
	b.Run("largest", func(b *testing.B) {
		benchPresenceList(b, func(n, i int) groups.Member { return grouptest.LargestMember(n*100 + i) }, false)
	})
	b.Run("oversized", func(b *testing.B) { benchPresenceList(b, short, true) })
}

func benchPresenceList(b *testing.B, member func(node, i int) groups.Member, oversized bool) {
	srv := testservers.StartNATS(b)
	ctx := context.Background()
	var nodes []groups.Backend
	for n := range 3 {
		be := benchBackend(b, srv.URL(), nil)
		for i := range 100 {
			if err := be.Presence().Add(ctx, "room", fmt.Sprint(n, "-", i), member(n, i)); err != nil {
				b.Fatal(err)
			}
		}
		nodes = append(nodes, be)
	}
	if oversized {
		limit := int(nodes[1].(*backend).nc.MaxPayload())
		huge := groups.Member{ID: "huge", Meta: map[string]string{"k": strings.Repeat("v", limit)}}
		if err := nodes[1].Presence().Add(ctx, "room", "huge", huge); err != nil {
			b.Fatal(err)
		}
	}
	// Past the discovery window, every node knows the others.
	if ms, err := nodes[0].Presence().List(ctx, "room"); err != nil || len(ms) != 300 {
		b.Fatalf("List = %d entries, %v", len(ms), err)
	}
	b.ResetTimer()
	for range b.N {
		ms, err := nodes[0].Presence().List(ctx, "room")
		if err != nil || len(ms) != 300 {
			b.Fatalf("List = %d entries, %v", len(ms), err)
		}
	}
}
