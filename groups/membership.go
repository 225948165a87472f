package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// JoinOptions configures a membership.
type JoinOptions struct {
	// Presence, when set, lists the socket in the group's presence as
	// this member for as long as it is a member, and announces it to
	// subscriptions with Joined and Left events.
	Presence *Member
}

// Membership is one socket's membership of one group, from Join until
// Leave or the end of the connection.
type Membership struct {
	hub *Hub
	g   *group
	ws  *pistoke.Conn
	key string // presence key, "" without presence
	who Member
	idx int // position in g.members; guarded by g.mu

	wi int // index of the hub's writer that serves m

	mu      sync.Mutex
	q       ring
	busy    bool  // a writer or a drainer owns the queue: a new message need not schedule m
	stopped bool  // nothing more is queued: left, overflowed or broken
	lastLog int64 // when a drop was last logged, in Unix nanoseconds

	dropped atomic.Int64

	leaveOnce sync.Once
	leaveErr  error
}

// Join makes ws a member of group: from the moment Join returns, ws
// receives every message published to the group, on any node, until it
// leaves. The membership ends by itself when the connection ends; Leave
// ends it earlier. A socket may join several groups, up to
// Options.MaxGroupsPerConn; joining one group twice delivers each of its
// messages twice.
//
// Join fails with ErrInvalidGroup for a name beyond MaxGroupBytes, with
// ErrInvalidMember for a presence Member beyond MaxMemberIDBytes or
// MaxMetaBytes, and with ErrTooManyGroups once ws holds
// MaxGroupsPerConn memberships.
//
// Messages are written to ws by goroutines of the hub, with
// non-blocking batched writes, concurrently with the
// socket's handler.
func (h *Hub) Join(ws *pistoke.Conn, group string, opts *JoinOptions) (*Membership, error) {
	if ws == nil {
		return nil, errors.New("groups: Join: nil connection")
	}
	if err := checkGroup(group); err != nil {
		return nil, err
	}
	var who *Member
	if opts != nil && opts.Presence != nil {
		if err := checkMember(*opts.Presence); err != nil {
			return nil, err
		}
		who = &Member{ID: opts.Presence.ID, Meta: maps.Clone(opts.Presence.Meta)}
	}
	if err := h.countJoin(ws); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(h.ctx, opTimeout)
	defer cancel()
	g, err := h.acquire(ctx, group)
	if err != nil {
		h.countLeave(ws)
		return nil, err
	}
	m := &Membership{hub: h, g: g, ws: ws, wi: int(h.seq.Add(1) % uint64(len(h.writers)))}
	g.mu.Lock()
	if h.closed.Load() {
		g.mu.Unlock()
		h.release(g)
		h.countLeave(ws)
		return nil, ErrClosed
	}
	m.idx = len(g.members)
	g.members = append(g.members, m)
	g.mu.Unlock()

	if who != nil {
		m.who = *who
		m.key = h.node + "-" + strconv.FormatUint(h.seq.Add(1), 36)
		if err := h.b.Presence().Add(ctx, group, m.key, m.who); err != nil {
			m.stop()
			m.detach()
			h.release(g)
			h.countLeave(ws)
			if h.closed.Load() {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("groups: join %q: %w", group, err)
		}
		h.announce(ctx, group, kindJoined, m.who)
	}
	ws.OnClose(m.leaveOnClose)
	return m, nil
}

// countJoin counts one more membership of ws, unless it already holds
// as many as the hub allows.
func (h *Hub) countJoin(ws *pistoke.Conn) error {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	n := h.joins[ws]
	if n >= h.maxGroups {
		return fmt.Errorf("%w: %d memberships, Options.MaxGroupsPerConn", ErrTooManyGroups, n)
	}
	h.joins[ws] = n + 1
	return nil
}

// countLeave undoes countJoin.
func (h *Hub) countLeave(ws *pistoke.Conn) {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	if n := h.joins[ws]; n > 1 {
		h.joins[ws] = n - 1
	} else {
		delete(h.joins, ws)
	}
}

// leaveOnClose ends the membership of a socket whose connection ended,
// where nobody is left to handle an error but the log.
func (m *Membership) leaveOnClose() {
	if err := m.Leave(); err != nil {
		m.hub.log.Warn("groups: leave failed", m.attrs(slog.Any("error", err))...)
	}
}

// Group returns the name of the group.
func (m *Membership) Group() string { return m.g.name }

// Dropped returns how many messages the member did not receive because
// its queue was full (see DropOldest).
func (m *Membership) Dropped() int64 { return m.dropped.Load() }

// Leave ends the membership: the socket receives no more messages of the
// group, and leaves its presence. It is called when the connection ends;
// calling it again returns the result of the first call.
func (m *Membership) Leave() error {
	m.leaveOnce.Do(func() { m.leaveErr = m.leave() })
	return m.leaveErr
}

func (m *Membership) leave() error {
	h := m.hub
	m.stop()
	m.detach()
	h.countLeave(m.ws)
	defer h.release(m.g)
	if m.key == "" || h.closed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(h.ctx, opTimeout)
	defer cancel()
	if err := h.b.Presence().Remove(ctx, m.g.name, m.key); err != nil {
		if h.closed.Load() {
			return nil // the backend's Close removed the entry
		}
		return fmt.Errorf("groups: leave %q: %w", m.g.name, err)
	}
	h.announce(ctx, m.g.name, kindLeft, m.who)
	return nil
}

// announce publishes a presence event. The event is lost if the broker
// is unreachable, like any message; the presence list stays right.
func (h *Hub) announce(ctx context.Context, group string, kind byte, who Member) {
	env, err := encodePresence(kind, who)
	if err == nil {
		err = h.publish(ctx, group, env)
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		h.log.Warn("groups: presence event lost", slog.String("group", group), slog.String("member", who.ID), slog.Any("error", err))
	}
}

// detach removes m from its group's members.
func (m *Membership) detach() {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	i := m.idx
	if i < 0 || i >= len(g.members) || g.members[i] != m {
		return
	}
	last := len(g.members) - 1
	g.members[i] = g.members[last]
	g.members[i].idx = i
	g.members[last] = nil
	g.members = g.members[:last]
	m.idx = -1
}

// stop discards m's queue and refuses further messages.
func (m *Membership) stop() {
	m.mu.Lock()
	m.stopped = true
	m.q.reset()
	m.mu.Unlock()
}

// enqueue queues pm for m's socket, applying the hub's policy when the
// queue is full. It reports whether m must be handed to its writer:
// nobody is writing for it yet. It is called with the group's lock held
// for reading, and never blocks.
func (m *Membership) enqueue(pm *wire.PreparedMessage) bool {
	h := m.hub
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return false
	}
	if m.q.n == h.size {
		if h.policy == Disconnect {
			lost := int64(m.q.n) + 1
			m.stopped = true
			m.q.reset()
			m.mu.Unlock()
			m.dropped.Add(lost)
			h.dropped.Add(lost)
			go broadcast.DropSlow(m.ws, fmt.Sprintf("group %q: queue of %d messages full, %d dropped", m.g.name, h.size, lost))
			return false
		}
		m.q.drop()
		m.dropped.Add(1)
		h.dropped.Add(1)
		if now := time.Now().UnixNano(); now-m.lastLog >= int64(time.Second) {
			m.lastLog = now
			defer func() {
				h.log.Warn("groups: slow member, dropping its oldest messages", m.attrs(slog.Int64("dropped", m.dropped.Load()))...)
			}()
		}
	}
	m.q.push(pm, h.size)
	schedule := !m.busy
	m.busy = true
	m.mu.Unlock()
	return schedule
}

// attrs describes m for the log.
func (m *Membership) attrs(extra ...any) []any {
	a := []any{slog.String("group", m.g.name)}
	if m.key != "" {
		a = append(a, slog.String("member", m.who.ID))
	}
	if r := m.ws.Request(); r != nil {
		a = append(a, slog.String("remote", r.RemoteAddr))
	}
	return append(a, extra...)
}

// drain writes first, then m's queue, to its socket, waiting for the
// socket as long as it takes: it serves a member whose client reads
// slowly, so that the hub's writers never wait. Once the queue is empty
// the goroutine ends and m goes back to its writer.
func (m *Membership) drain(first []*wire.PreparedMessage) {
	batch := first
	for {
		if err := broadcast.SendBatch(m.ws, batch); err != nil {
			m.broken()
			return
		}
		clear(batch)
		m.mu.Lock()
		if m.q.n == 0 || m.stopped {
			m.busy = false
			m.q.idle()
			m.mu.Unlock()
			return
		}
		batch = m.q.take(batch[:0])
		m.mu.Unlock()
	}
}

// broken stops m after a failed write: the connection has ended, and
// its OnClose hook leaves the group.
func (m *Membership) broken() {
	m.mu.Lock()
	m.stopped = true
	m.busy = false
	m.q.reset()
	m.mu.Unlock()
}

// ring is a member's queue: a ring buffer that grows on demand up to the
// hub's queue size and shrinks back when it empties, so that an idle
// member holds at most a few pointers.
type ring struct {
	buf  []*wire.PreparedMessage
	head int // index of the oldest message
	n    int
}

// ringKeep is the largest backing array an empty ring keeps.
const ringKeep = 8

// push appends pm; the caller has made sure n < size.
func (r *ring) push(pm *wire.PreparedMessage, size int) {
	if r.n == len(r.buf) {
		r.grow(min(max(4, 2*len(r.buf)), size))
	}
	r.buf[(r.head+r.n)%len(r.buf)] = pm
	r.n++
}

func (r *ring) grow(c int) {
	buf := make([]*wire.PreparedMessage, c)
	n := r.n
	r.take(buf[:0]) // c >= n: fills buf in place
	r.buf, r.head, r.n = buf, 0, n
}

// take appends the queued messages to dst, oldest first, and empties r.
func (r *ring) take(dst []*wire.PreparedMessage) []*wire.PreparedMessage {
	n := r.n
	for i := range n {
		j := (r.head + i) % len(r.buf)
		dst = append(dst, r.buf[j])
		r.buf[j] = nil
	}
	r.head, r.n = 0, 0
	return dst
}

// drop discards the oldest message.
func (r *ring) drop() {
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// idle releases a large backing array once the queue is empty.
func (r *ring) idle() {
	if r.n == 0 && len(r.buf) > ringKeep {
		r.buf, r.head = nil, 0
	}
}

// reset empties r and releases its backing array.
func (r *ring) reset() {
	clear(r.buf)
	*r = ring{}
}
