package redis

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A shard is one subscribing connection and the goroutine that reads it.
// A backend has one shard for all groups, except when it uses sharded
// pub/sub over a Redis Cluster: then it has one per master that owns the
// channel of a subscribed group.
type shard struct {
	b    *backend
	ps   *goredis.PubSub
	addr string // the master, in cluster shards; "" for the one shard

	ctx    context.Context // ends at close
	cancel context.CancelFunc
	done   chan struct{} // closed when the reader and pinger have returned

	ngroups int // groups routed here, under b.mu

	mu      sync.Mutex
	waiters map[string][]chan error // Subscribe calls awaiting confirmation
	leaving map[string]int          // our unsubscribes not yet confirmed
}

func (b *backend) newShard(c goredis.UniversalClient, addr string) *shard {
	s := &shard{
		b:       b,
		ps:      c.Subscribe(b.ctx), // no channels: connects on first use
		addr:    addr,
		done:    make(chan struct{}),
		waiters: make(map[string][]chan error),
		leaving: make(map[string]int),
	}
	s.ctx, s.cancel = context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.read() }()
	go func() { defer wg.Done(); s.pinger() }()
	go func() { wg.Wait(); close(s.done) }()
	return s
}

// close stops the shard and waits for its goroutines.
func (s *shard) close() {
	s.cancel()
	_ = s.ps.Close() // ends a Receive blocked on the connection
	<-s.done
}

func (s *shard) subscribe(ctx context.Context, ch string) error {
	if s.b.sharded {
		return s.ps.SSubscribe(ctx, ch)
	}
	return s.ps.Subscribe(ctx, ch)
}

func (s *shard) unsubscribe(ctx context.Context, ch string) error {
	s.mu.Lock()
	s.leaving[ch]++
	s.mu.Unlock()
	var err error
	if s.b.sharded {
		err = s.ps.SUnsubscribe(ctx, ch)
	} else {
		err = s.ps.Unsubscribe(ctx, ch)
	}
	if err != nil {
		// No confirmation will come for it.
		s.mu.Lock()
		s.forgetLeaving(ch)
		s.mu.Unlock()
	}
	return err
}

func (s *shard) forgetLeaving(ch string) {
	if s.leaving[ch] <= 1 {
		delete(s.leaving, ch)
	} else {
		s.leaving[ch]--
	}
}

// await registers interest in the server's confirmation of a subscription
// to ch; register before subscribing, so that it cannot be missed. The
// channel receives nil on confirmation, or the error that makes one
// unlikely.
func (s *shard) await(ch string) chan error {
	w := make(chan error, 1)
	s.mu.Lock()
	s.waiters[ch] = append(s.waiters[ch], w)
	s.mu.Unlock()
	return w
}

func (s *shard) unawait(ch string, w chan error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[ch]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.waiters, ch)
	} else {
		s.waiters[ch] = ws
	}
}

// read receives from the subscribing connection until the shard closes.
//
// Every Receive has a deadline two health intervals away while the pinger
// makes the server answer every interval, so a silent connection fails
// the Receive, and go-redis replaces a connection whose read failed. It
// also redials and resubscribes after any other failure; read only waits
// between attempts, and reports the outage once.
func (s *shard) read() {
	cond := conditionLog{log: s.b.log, what: "subscription to " + s.b.where + s.addrSuffix()}
	failures := 0
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 2*healthInterval)
		msg, err := s.ps.Receive(ctx)
		cancel()
		if s.ctx.Err() != nil || errors.Is(err, goredis.ErrClosed) {
			return
		}
		if err != nil {
			var rerr goredis.Error
			if errors.As(err, &rerr) && !isNetError(err) {
				// An error reply, such as MOVED to an SSUBSCRIBE for a
				// slot that moved: the connection itself is fine. The
				// reply does not say which subscription failed.
				s.b.log.Warn("redis: subscription error reply", "server", s.b.where+s.addrSuffix(), "err", err)
				s.failWaiters(err)
				continue
			}
			failures++
			cond.fail(err)
			if s.addr != "" && failures == 3 {
				// The master may have failed over: route its groups again.
				s.b.rerouteAll(s)
			}
			if !s.pause(backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		if cond.ok() {
			s.b.kickHeartbeat() // the server may have lost our presence
		}
		switch m := msg.(type) {
		case *goredis.Message:
			s.b.receive(s, m)
		case *goredis.Subscription:
			s.confirm(m)
		}
	}
}

func (s *shard) addrSuffix() string {
	if s.addr == "" {
		return ""
	}
	return " (shard " + s.addr + ")"
}

// pause waits d, or returns false when the shard closes first.
func (s *shard) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// backoff spaces the attempts to reach a lost server: 50 ms doubling to
// one second.
func backoff(failures int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < failures && d < time.Second; i++ {
		d *= 2
	}
	return min(d, time.Second)
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// pinger makes the server answer every health interval, so that read
// hears from a live connection at least that often.
func (s *shard) pinger() {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, healthInterval)
		_ = s.ps.Ping(ctx) // a failure shows in read
		cancel()
	}
}

// failWaiters ends every wait for a confirmation with err.
func (s *shard) failWaiters(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch, ws := range s.waiters {
		for _, w := range ws {
			w <- err
		}
		delete(s.waiters, ch)
	}
}

// confirm handles the server's reply to a (un)subscription.
func (s *shard) confirm(m *goredis.Subscription) {
	switch m.Kind {
	case "subscribe", "ssubscribe":
		s.mu.Lock()
		ws := s.waiters[m.Channel]
		delete(s.waiters, m.Channel)
		s.mu.Unlock()
		for _, w := range ws {
			w <- nil
		}
	case "unsubscribe", "sunsubscribe":
		s.mu.Lock()
		ours := s.leaving[m.Channel] > 0
		if ours {
			s.forgetLeaving(m.Channel)
		}
		s.mu.Unlock()
		if group, ok := s.b.groupOf(m.Channel); ok && !ours && s.addr != "" {
			// A cluster drops the shard subscriptions of a slot that
			// migrates to another master.
			s.b.reroute(s, group)
		}
	}
}
