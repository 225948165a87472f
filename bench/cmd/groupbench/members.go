package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/bench/internal/harness"
)

// member is one client socket in the group and what arrived on it.
type member struct {
	c *pistoke.Conn

	delivered atomic.Int64 // messages received
	missed    atomic.Int64 // sequence numbers skipped over
	bad       atomic.Int64 // messages unreadable, repeated or out of order
	last      atomic.Int64 // highest sequence number received
}

// members holds the client's sockets and what their readers record.
type members struct {
	list     []*member
	lat      atomic.Pointer[trialLatency] // latencies of the current trial
	lastRecv atomic.Int64                 // Unix time of the trial's latest delivery
	wg       sync.WaitGroup
}

// newMembers returns an empty set of members.
func newMembers() *members {
	ms := &members{}
	ms.lat.Store(newTrialLatency(0, -1))
	return ms
}

// dial opens n more sockets to url, at most par at a time (so as not to
// overflow the server's accept queue), and starts reading each. It must
// not run during a trial.
func (ms *members) dial(ctx context.Context, wsURL string, n, par int) error {
	list := make([]*member, n)
	err := harness.Parallel(n, par, func(i int) error {
		c, _, err := pistoke.Dial(ctx, wsURL, nil)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		list[i] = &member{c: c}
		return nil
	})
	if err != nil {
		for _, m := range list {
			if m != nil {
				_ = m.c.Close(pistoke.CloseNormal, "")
			}
		}
		return err
	}
	for _, m := range list {
		ms.list = append(ms.list, m)
		ms.wg.Go(func() { ms.read(m) })
	}
	return nil
}

// read records every message m receives until its socket closes.
func (ms *members) read(m *member) {
	for {
		_, p, err := m.c.Receive()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		seq, sent, err := parseHeader(p)
		if err != nil {
			m.bad.Add(1)
			continue
		}
		ms.lat.Load().record(seq, now-sent)
		for {
			t := ms.lastRecv.Load()
			if now <= t || ms.lastRecv.CompareAndSwap(t, now) {
				break
			}
		}
		// Only this goroutine writes last.
		switch last := m.last.Load(); {
		case seq > last:
			m.missed.Add(seq - last - 1)
			m.last.Store(seq)
		default:
			m.bad.Add(1)
		}
		m.delivered.Add(1)
	}
}

// totals sums the members' counters.
func (ms *members) totals() (delivered, missed, bad int64) {
	for _, m := range ms.list {
		delivered += m.delivered.Load()
		missed += m.missed.Load()
		bad += m.bad.Load()
	}
	return delivered, missed, bad
}

// await waits until the members have received want messages in all, or
// none has arrived for settle, or limit has passed. The counters are
// polled: a notification per delivery would cost more than the
// deliveries themselves.
func (ms *members) await(want int64, settle, limit time.Duration) {
	last, lastChange := int64(-1), time.Now()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		got, _, _ := ms.totals()
		if got >= want {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > settle {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// close closes every socket with a closing handshake and waits for the
// readers to end.
func (ms *members) close() {
	_ = harness.Parallel(len(ms.list), 256, func(i int) error {
		return ms.list[i].c.Close(pistoke.CloseNormal, "")
	})
	ms.wg.Wait()
}
