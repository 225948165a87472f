package pistoke

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// sweeper watches the open connections of one Handler for what needs a
// clock: pings and their pongs, idle connections and stalled writes.
//
// One goroutine per Handler wakes a few times per interval and walks the
// connections, instead of a timer per connection: an idle socket then
// costs no timer, and the goroutine exists only while sockets are open.
type sweeper struct {
	srv *server

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	running bool
	wake    chan struct{}
}

// sweepState is what the sweeper remembers of one connection, inside its
// connStats. Only the sweeper goroutine touches it. Times are nanoseconds
// on the monotonic clock of clockStart, which keeps the state small: it
// is part of every open connection.
type sweepState struct {
	nextPing     int64
	pongDue      int64 // 0 when no ping is outstanding
	lastActive   int64
	stalledSince int64
	lastMsgs     int64
	stalledSeq   uint64
	pongsSeen    uint32
	stallArmed   bool
}

// clockStart is the origin of sweepState times.
var clockStart = time.Now()

// monotime returns the nanoseconds since clockStart, never 0.
func monotime() int64 { return int64(time.Since(clockStart)) + 1 }

// tick returns the sweeper's period, or 0 when it has nothing to do.
func (s *server) tick() time.Duration {
	t := time.Duration(0)
	for _, d := range []time.Duration{s.pingInterval, s.pongTimeout, s.idleTimeout, s.writeTimeout} {
		if d > 0 && (t == 0 || d < t) {
			t = d
		}
	}
	if s.pingInterval == 0 && s.idleTimeout == 0 && s.writeTimeout == 0 {
		return 0
	}
	return max(t/4, 5*time.Millisecond)
}

func (w *sweeper) add(c *Conn) {
	period := w.srv.tick()
	if period == 0 {
		return
	}
	now := monotime()
	st := &c.stats.sweep
	st.lastActive = now
	if w.srv.pingInterval > 0 {
		st.nextPing = now + int64(w.srv.pingInterval)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns == nil {
		w.conns = make(map[*Conn]struct{})
		w.wake = make(chan struct{}, 1)
	}
	w.conns[c] = struct{}{}
	if !w.running {
		w.running = true
		go w.run(period)
	}
}

func (w *sweeper) remove(c *Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.conns[c]; !ok {
		return
	}
	delete(w.conns, c)
	if len(w.conns) == 0 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// run sweeps every period until no connection is left.
func (w *sweeper) run(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var batch []*Conn
	for {
		select {
		case <-t.C:
		case <-w.wake:
		}
		w.mu.Lock()
		if len(w.conns) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch = batch[:0]
		for c := range w.conns {
			batch = append(batch, c)
		}
		w.mu.Unlock()
		now := monotime()
		for _, c := range batch {
			w.check(c, &c.stats.sweep, now)
		}
		clear(batch)
	}
}

// check applies the timeouts to one connection.
func (w *sweeper) check(c *Conn, st *sweepState, now int64) {
	s := w.srv
	if !c.isOpen() {
		return
	}
	cs := c.stats

	// Sends under way while no write has completed since the last look:
	// the client is not reading.
	if s.writeTimeout > 0 {
		seq := cs.wseq.Load()
		switch {
		case cs.sending.Load() == 0:
			st.stallArmed = false
		case !st.stallArmed || seq != st.stalledSeq:
			st.stallArmed, st.stalledSeq, st.stalledSince = true, seq, now
		case now-st.stalledSince >= int64(s.writeTimeout):
			c.dropSlow("no write completed for " + s.writeTimeout.String())
			return
		}
	}

	if s.idleTimeout > 0 {
		msgs := cs.msgsIn.Load() + cs.msgsOut.Load()
		if msgs != st.lastMsgs {
			st.lastMsgs, st.lastActive = msgs, now
		} else if now-st.lastActive >= int64(s.idleTimeout) {
			go c.Close(CloseNormal, "idle timeout")
			return
		}
	}

	if s.pingInterval > 0 {
		if st.pongDue != 0 {
			if c.wc.Pongs() != st.pongsSeen {
				st.pongDue = 0
			} else if now >= st.pongDue {
				c.reap("no pong within " + s.pongTimeout.String())
				return
			}
		}
		if st.pongDue == 0 && now >= st.nextPing {
			st.pongsSeen = c.wc.Pongs()
			st.pongDue = now + int64(s.pongTimeout)
			st.nextPing = now + int64(s.pingInterval)
			go c.ping()
		}
	}
}

// ping sends a keepalive ping. Pongs are read by whoever reads the
// socket; if nobody does, the context's reader starts, as it would for a
// handler waiting on ctx.Done().
func (c *Conn) ping() {
	// Someone must read the pong: a Receive under way does; otherwise a
	// reader starts, as for a handler waiting on its context. The ping
	// does not make that reader permanent for a handler that receives.
	c.start()
	c.tryWatch()
	if err := c.wc.WritePing(nil); err != nil {
		c.end(err)
	}
}

// errNoPong is the cause of a connection reaped for not answering pings.
var errNoPong = errors.New("pistoke: the peer answered no ping")

// reap drops a peer that stopped answering: there is no point in a
// closing handshake with it.
func (c *Conn) reap(reason string) {
	c.setClosedBy(closedByServer)
	c.stats.srv.log().LogAttrs(c.ctx.parent, slog.LevelInfo, "pistoke: peer unresponsive",
		slog.String("path", c.stats.path), slog.String("reason", reason))
	c.end(&CloseError{Code: CloseAbnormal, Reason: reason, cause: errNoPong})
	_ = c.wc.CloseNow()
}

// reasonSlowConsumer is the reason of the 1008 close frame sent to a
// client dropped for not reading fast enough (see Options.SendQueue).
const reasonSlowConsumer = "slow consumer"

// dropSlow applies the slow-consumer policy: close with 1008, without
// waiting for the client (which is not reading) more than the close
// timeout allows.
func (c *Conn) dropSlow(why string) {
	if !c.isOpen() {
		return
	}
	c.setClosedBy(closedByServer)
	if _, first := c.endOnce(&CloseError{Code: ClosePolicyViolation, Reason: reasonSlowConsumer, cause: ErrSlowConsumer}); !first {
		return
	}
	st := c.stats
	if st != nil {
		if m := st.srv.metrics; m != nil {
			m.SendDropped()
		}
		st.srv.log().LogAttrs(c.ctx.parent, slog.LevelWarn, "pistoke: slow consumer dropped",
			slog.String("path", st.path), slog.String("reason", why))
	}
	go c.close(ClosePolicyViolation, reasonSlowConsumer)
}
