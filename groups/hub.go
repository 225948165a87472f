package groups

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// DefaultQueueSize is how many messages a member's queue holds when
// Options.QueueSize is zero.
const DefaultQueueSize = 256

// opTimeout bounds the broker calls a hub makes on behalf of a socket
// (presence, subscriptions), which have no context of their own: a socket
// must not wait forever on a broker that stopped answering.
const opTimeout = 10 * time.Second

// Policy says what a hub does when a member's queue is full: the member's
// client reads more slowly than the group publishes.
type Policy int

const (
	// DropOldest, the default, discards the member's oldest queued
	// message to make room for the new one, and counts it in
	// Membership.Dropped and Hub.Dropped. The socket stays open: a burst
	// must not cost a member its connection. Applications that need every
	// message subscribe (Hub.Subscribe) and resynchronise their clients
	// themselves, with a sequence number say.
	DropOldest Policy = iota
	// Disconnect closes the member's socket, discarding what was queued,
	// so that a client never silently misses a message: it reconnects
	// and reloads its state instead. It is the same close as a Conn that
	// drops a slow consumer, see pistoke.Options.SendQueue: code
	// pistoke.ClosePolicyViolation, reason "slow consumer".
	Disconnect
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case DropOldest:
		return "DropOldest"
	case Disconnect:
		return "Disconnect"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Options configures a Hub. The zero value is ready to use.
type Options struct {
	// QueueSize bounds each member's queue of messages not yet written
	// to its socket; 0 means DefaultQueueSize. The queue starts small and
	// grows to this size only while the member falls behind.
	QueueSize int
	// Policy says what happens when a member's queue is full.
	Policy Policy
	// MaxGroupsPerConn bounds the memberships one connection may hold at
	// once, joining one group twice counting twice: beyond it Join fails
	// with ErrTooManyGroups. It keeps one client from making its node
	// subscribe to thousands of groups, or from adding thousands of
	// presence entries, through one socket; how many sockets a client may
	// open is the application's to bound. 0 means
	// DefaultMaxGroupsPerConn.
	MaxGroupsPerConn int
	// Logger receives the hub's events (slow members, broker errors met
	// while a socket leaves); nil means slog.Default().
	Logger *slog.Logger
}

// Hub sends the messages published to a group to every socket that
// joined it, on this node and, through the Backend, on every node of the
// cluster. It is safe for concurrent use. Create one per process with New
// and share it between handlers.
type Hub struct {
	b         Backend
	size      int
	policy    Policy
	maxGroups int
	log       *slog.Logger
	node      string // makes presence keys unique across the cluster
	seq       atomic.Uint64

	// connMu guards joins, the memberships of each connection, for
	// MaxGroupsPerConn.
	connMu sync.Mutex
	joins  map[*pistoke.Conn]int

	// ctx bounds broker calls made for sockets; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex
	groups map[string]*group // groups with local members or subscriptions
	closed atomic.Bool       // set under mu

	dropped  atomic.Int64
	prepared atomic.Int64 // messages encoded for local sockets, for tests

	writers []*writer
	wg      sync.WaitGroup // the writers

	// writeHook, when set, runs before a writer writes for a member: a
	// test holds a writer up with it. Set before the writers start.
	writeHook func()
}

// group is the local state of one group: its members and subscriptions.
type group struct {
	name string
	refs int // members and subscriptions holding it; guarded by Hub.mu

	// subMu serialises the backend's Subscribe and Unsubscribe calls for
	// this group, so that a group left and joined again at once ends up
	// subscribed.
	subMu      sync.Mutex
	subscribed bool // guarded by subMu

	// mu guards the lists; deliveries hold it for reading while they fan
	// a message out.
	mu      sync.RWMutex
	members []*Membership
	subs    []*Subscription
}

// New returns a hub over b, which it opens; nil b means NewLocal(), for a
// single process. ctx bounds the opening only. The hub writes to its
// members' sockets from one goroutine per CPU (GOMAXPROCS at the time of
// New), plus one for each member whose client is slow while it is. Close
// the hub to close b and stop its goroutines.
func New(ctx context.Context, b Backend, opts *Options) (*Hub, error) {
	return newHub(ctx, b, opts, nil)
}

// newHub is New, with a hook run before every write for a member.
func newHub(ctx context.Context, b Backend, opts *Options, writeHook func()) (*Hub, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueSize < 0 {
		return nil, fmt.Errorf("groups: QueueSize must not be negative, not %d", o.QueueSize)
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxGroupsPerConn < 0 {
		return nil, fmt.Errorf("groups: MaxGroupsPerConn must not be negative, not %d", o.MaxGroupsPerConn)
	}
	if o.MaxGroupsPerConn == 0 {
		o.MaxGroupsPerConn = DefaultMaxGroupsPerConn
	}
	if o.Policy != DropOldest && o.Policy != Disconnect {
		return nil, fmt.Errorf("groups: unknown %v", o.Policy)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if b == nil {
		b = NewLocal()
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails
	h := &Hub{
		b:         b,
		size:      o.QueueSize,
		policy:    o.Policy,
		maxGroups: o.MaxGroupsPerConn,
		log:       o.Logger,
		node:      hex.EncodeToString(id[:]),
		joins:     make(map[*pistoke.Conn]int),
		groups:    make(map[string]*group),
		writeHook: writeHook,
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.startWriters()
	if err := b.Open(ctx, h.deliver); err != nil {
		h.cancel()
		h.wg.Wait()
		return nil, fmt.Errorf("groups: open backend: %w", err)
	}
	return h, nil
}

// Publish sends a message to every member of group, on every node,
// including the sender's own socket if it is a member. Messages one
// goroutine publishes to one group reach each member in the order they
// were published. Publish never waits for a member; it returns an error
// when the broker is unreachable, and the message is then lost.
func (h *Hub) Publish(ctx context.Context, group string, typ pistoke.MessageType, p []byte) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	switch typ {
	case pistoke.Text:
		if !utf8.Valid(p) {
			return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidMessage)
		}
	case pistoke.Binary:
	default:
		return fmt.Errorf("%w: type %v", ErrInvalidMessage, typ)
	}
	return h.publish(ctx, group, encodeMessage(typ, p))
}

// PublishText publishes s as a text message.
func (h *Hub) PublishText(ctx context.Context, group, s string) error {
	return h.Publish(ctx, group, pistoke.Text, []byte(s))
}

// PublishJSON publishes v encoded as JSON in a text message.
func (h *Hub) PublishJSON(ctx context.Context, group string, v any) error {
	p, err := pistoke.JSON{}.Marshal(v)
	if err != nil {
		return fmt.Errorf("groups: PublishJSON: %w", err)
	}
	return h.Publish(ctx, group, pistoke.Text, p)
}

// publish hands an envelope to the backend.
func (h *Hub) publish(ctx context.Context, group string, env []byte) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if err := h.b.Publish(ctx, group, env); err != nil {
		if h.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("groups: publish to %q: %w", group, err)
	}
	return nil
}

// Presence returns the members present in group on every node, sorted by
// ID, one entry per ID however many sockets share it (which of their Meta
// is returned is unspecified). A member whose node died without closing
// remains listed until the backend's TTL expires.
func (h *Hub) Presence(ctx context.Context, group string) ([]Member, error) {
	if err := checkGroup(group); err != nil {
		return nil, err
	}
	if h.closed.Load() {
		return nil, ErrClosed
	}
	list, err := h.b.Presence().List(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("groups: presence of %q: %w", group, err)
	}
	slices.SortStableFunc(list, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return slices.CompactFunc(list, func(a, b Member) bool { return a.ID == b.ID }), nil
}

// Dropped returns how many messages the hub has discarded, in every
// group, because a member or a subscription was not keeping up.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Close closes the backend: this node's presence entries go, and no
// message reaches its members or subscriptions any more. Sockets stay
// connected; subscriptions' channels are closed. Publish, Join,
// Subscribe, Presence and Close then return ErrClosed.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return ErrClosed
	}
	h.closed.Store(true)
	groups := h.groups
	h.groups = make(map[string]*group)
	h.mu.Unlock()
	h.cancel()
	err := h.b.Close()
	h.wg.Wait()
	for _, g := range groups {
		g.mu.Lock()
		for _, s := range g.subs {
			s.end()
		}
		g.subs = nil
		g.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("groups: close backend: %w", err)
	}
	return nil
}

// acquire returns the local state of group, counting one more holder, and
// makes sure the backend delivers the group's messages to this node.
func (h *Hub) acquire(ctx context.Context, name string) (*group, error) {
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	g := h.groups[name]
	if g == nil {
		g = &group{name: name}
		h.groups[name] = g
	}
	g.refs++
	h.mu.Unlock()

	g.subMu.Lock()
	if !g.subscribed {
		if err := h.b.Subscribe(ctx, name); err != nil {
			g.subMu.Unlock()
			h.release(g)
			if h.closed.Load() {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("groups: subscribe to %q: %w", name, err)
		}
		g.subscribed = true
	}
	g.subMu.Unlock()
	return g, nil
}

// release undoes acquire. The last holder to leave unsubscribes the node
// from the group, unless someone acquired it meanwhile.
func (h *Hub) release(g *group) {
	h.mu.Lock()
	g.refs--
	last := g.refs == 0
	h.mu.Unlock()
	if !last {
		return
	}
	g.subMu.Lock()
	defer g.subMu.Unlock()
	h.mu.Lock()
	held := g.refs > 0
	h.mu.Unlock()
	if !held && g.subscribed && !h.closed.Load() {
		ctx, cancel := context.WithTimeout(h.ctx, opTimeout)
		err := h.b.Unsubscribe(ctx, g.name)
		cancel()
		if err != nil && !h.closed.Load() {
			h.log.Warn("groups: unsubscribe failed", slog.String("group", g.name), slog.Any("error", err))
		}
		g.subscribed = false
	}
	h.mu.Lock()
	if g.refs == 0 && h.groups[g.name] == g {
		delete(h.groups, g.name)
	}
	h.mu.Unlock()
}

// deliver receives every envelope the backend carries to this node and
// fans it out to the group's local members and subscriptions. It only
// enqueues, so it never waits for a socket.
func (h *Hub) deliver(name string, env []byte) {
	if len(env) == 0 {
		return
	}
	h.mu.RLock()
	g := h.groups[name]
	h.mu.RUnlock()
	if g == nil {
		return
	}
	kind, p := env[0], env[1:]
	switch kind {
	case kindText:
		h.deliverMessage(g, pistoke.Text, p)
	case kindBinary:
		h.deliverMessage(g, pistoke.Binary, p)
	case kindJoined, kindLeft:
		m, err := decodePresence(p)
		if err != nil {
			h.log.Warn("groups: discarded a malformed event", slog.String("group", name), slog.Any("error", err))
			return
		}
		ev := Event{Group: name, Kind: Joined, Member: m}
		if kind == kindLeft {
			ev.Kind = Left
		}
		g.mu.RLock()
		for _, s := range g.subs {
			s.push(ev)
		}
		g.mu.RUnlock()
	default:
		h.log.Warn("groups: discarded an event of unknown kind", slog.String("group", name), slog.Int("kind", int(kind)))
	}
}

// deliverMessage encodes a data message once for all local members and
// queues it for each of them.
func (h *Hub) deliverMessage(g *group, typ pistoke.MessageType, p []byte) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if len(g.members) == 0 && len(g.subs) == 0 {
		return
	}
	var data []byte
	if len(g.members) > 0 {
		pm, err := broadcast.Prepare(wire.Opcode(typ), p)
		if err != nil {
			h.log.Warn("groups: discarded an invalid message", slog.String("group", g.name), slog.Any("error", err))
			return
		}
		h.prepared.Add(1)
		h.fanOut(g.members, pm)
		data = pm.Payload()
	} else {
		if typ == pistoke.Text && !utf8.Valid(p) {
			h.log.Warn("groups: discarded an invalid message", slog.String("group", g.name),
				slog.Any("error", errors.New("text is not valid UTF-8")))
			return
		}
		data = append([]byte(nil), p...)
	}
	ev := Event{Group: g.name, Kind: Message, Type: typ, Data: data}
	for _, s := range g.subs {
		s.push(ev)
	}
}

// schedPool holds the per-writer lists a fan-out collects members in, so
// that each writer is woken once per message rather than once per member.
var schedPool = sync.Pool{New: func() any { return new([][]*Membership) }}

// fanOut queues pm for every member and hands those with nobody writing
// for them to their writers.
func (h *Hub) fanOut(members []*Membership, pm *wire.PreparedMessage) {
	sp := schedPool.Get().(*[][]*Membership)
	sched := *sp
	if len(sched) < len(h.writers) {
		sched = make([][]*Membership, len(h.writers))
	}
	for _, m := range members {
		if m.enqueue(pm) {
			i := m.wi
			sched[i] = append(sched[i], m)
		}
	}
	for i, list := range sched {
		if len(list) > 0 {
			h.writers[i].add(list...)
			clear(list)
			sched[i] = list[:0]
		}
	}
	*sp = sched
	schedPool.Put(sp)
}
