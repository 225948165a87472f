package pistoke

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke/internal/wire"
)

// connStats is what a server-side connection counts and remembers for its
// close event, its metrics and the keepalive sweeper.
type connStats struct {
	srv     *server
	tracker *tracker // the http.Server's, for drains; nil when unknown
	path    string
	start   time.Time
	slot    bool // holds one of srv.maxConns
	closeBy string

	msgsIn, bytesIn   atomic.Int64
	msgsOut, bytesOut atomic.Int64

	// sending counts Sends under way or waiting; wseq is odd while a
	// write is in progress, so the sweeper can tell a stalled write.
	sending atomic.Int32
	wseq    atomic.Uint64

	released atomic.Bool

	sweep sweepState // owned by the sweeper
}

func (st *connStats) received(typ MessageType, n int) {
	st.msgsIn.Add(1)
	st.bytesIn.Add(int64(n))
	if m := st.srv.metrics; m != nil {
		m.Received(typ, n)
	}
}

func (st *connStats) sent(typ MessageType, n int) {
	st.msgsOut.Add(1)
	st.bytesOut.Add(int64(n))
	if m := st.srv.metrics; m != nil {
		m.Sent(typ, n)
	}
}

// setClosedBy records who ended the connection before the error that
// ends it, when the error alone would not tell.
func (c *Conn) setClosedBy(by string) {
	if c.stats == nil {
		return
	}
	c.mu.Lock()
	if c.endErr == nil && c.stats.closeBy == "" {
		c.stats.closeBy = by
	}
	c.mu.Unlock()
}

// opened registers a freshly upgraded connection with everything that
// watches it: drains, the keepalive sweeper, metrics and the log.
func (c *Conn) opened(hs *handshake, r *http.Request, compressed bool) {
	s := hs.srv
	c.stats = &connStats{srv: s, tracker: hs.tracker, path: r.URL.Path, start: time.Now(), slot: hs.slot}
	hs.slot = false
	if t := hs.tracker; t != nil {
		hs.tracked = false
		if t.promote(c) {
			go c.goAway()
		}
	}
	s.sweep.add(c)
	if m := s.metrics; m != nil {
		m.Handshake(HandshakeAccepted)
		m.Opened()
	}
	log := s.log()
	if log.Enabled(r.Context(), slog.LevelDebug) {
		log.LogAttrs(r.Context(), slog.LevelDebug, "pistoke: socket opened",
			slog.String("path", c.stats.path), slog.String("subprotocol", c.sub),
			slog.String("remote", r.RemoteAddr), slog.Bool("compressed", compressed))
	}
}

// release unregisters an ended connection and reports how it went. It
// runs once, when the handler has returned and the connection is closed.
// The drain's count goes down later, when the whole handler tree has
// returned (see runTree), so that a drain waits for middleware too and
// a process that exits after it loses no log line.
func (c *Conn) release() {
	st := c.stats
	if st == nil || !st.released.CompareAndSwap(false, true) {
		return
	}
	s := st.srv
	s.sweep.remove(c)
	if st.slot {
		s.open.Add(-1)
	}
	info := c.closeInfo()
	if m := s.metrics; m != nil {
		m.Closed(info)
	}
	ctx := c.ctx.parent
	log := s.log()
	if log.Enabled(ctx, slog.LevelInfo) {
		log.LogAttrs(ctx, slog.LevelInfo, "pistoke: socket closed",
			slog.String("path", st.path), slog.Int("code", info.Code), slog.String("reason", info.Reason),
			slog.String("by", info.By), slog.Duration("duration", info.Duration),
			slog.Int64("messages_in", info.MessagesIn), slog.Int64("messages_out", info.MessagesOut),
			slog.Int64("bytes_in", info.BytesIn), slog.Int64("bytes_out", info.BytesOut))
	}
}

// closeInfo describes the ended connection.
func (c *Conn) closeInfo() CloseInfo {
	st := c.stats
	info := CloseInfo{
		Code:        CloseAbnormal,
		By:          closedByNetwork,
		Duration:    time.Since(st.start),
		MessagesIn:  st.msgsIn.Load(),
		MessagesOut: st.msgsOut.Load(),
		BytesIn:     st.bytesIn.Load(),
		BytesOut:    st.bytesOut.Load(),
	}
	c.mu.Lock()
	err, by := c.endErr, st.closeBy
	c.mu.Unlock()
	var ce *CloseError
	if errors.As(err, &ce) {
		info.Code, info.Reason = ce.Code, ce.Reason
	}
	if by != "" {
		info.By = by
	}
	return info
}

// closedBy tells who ended the connection from the error that ended it:
// a close frame of ours, the peer's close frame, a protocol violation we
// failed the connection for, or a broken connection.
func closedBy(err error) string {
	var (
		me *CloseError
		ce *wire.CloseError
		pe *wire.ProtocolError
	)
	switch {
	case errors.As(err, &me):
		if me.cause != nil {
			return closedByNetwork
		}
		return closedByServer
	case errors.As(err, &pe):
		return closedByServer
	case errors.As(err, &ce):
		if ce.Code == CloseAbnormal {
			return closedByNetwork
		}
		return closedByClient
	}
	return closedByNetwork
}

// countHandshake records a handshake that did not upgrade.
func (s *server) countHandshake(outcome HandshakeOutcome) {
	if s.metrics != nil {
		s.metrics.Handshake(outcome)
	}
}

// Draining reports whether the server that received the request behind
// ctx has begun to drain (see [Drain]). A socket handler, whose context
// is cancelled when the drain closes its connection, uses it to tell a
// shutdown from a departed client.
func Draining(ctx context.Context) bool {
	srv, _ := ctx.Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return false
	}
	t := lookupTracker(srv)
	return t != nil && t.draining.Load()
}
