// Package nats is a groups.Backend over NATS, for the nodes of a cluster
// that share one NATS server or NATS cluster: pass it to groups.New.
//
//	b, err := nats.New(ctx, nats.Options{URL: "nats://127.0.0.1:4222"})
//	if err != nil {
//		return err
//	}
//	hub, err := groups.New(ctx, b, nil) // connects, or fails naming the URL
//
// It needs core NATS only, no JetStream. Each group's messages travel on
// their own subject, "pistoke.g.<group>" by default, so a node receives
// the traffic of the groups its sockets joined and nothing else.
//
// Presence is answered by the nodes themselves: each node keeps the
// entries of its own sockets, announces itself on a heartbeat every third
// of PresenceTTL, and answers a presence request with its entries. A
// List asks every node and waits for the answers of the nodes heard from
// within the TTL, so a node that crashed, answering nothing, drops out of
// the list at once, and out of the nodes waited for within the TTL.
//
// While the connection is down the backend reconnects forever, with a
// backoff from 100 ms to 2 s; nats.go subscribes again on its own once it
// is back. Meanwhile Publish, Subscribe and List fail with ErrUnreachable
// rather than queue anything: a message published to a cut-off node is
// lost, as groups.Backend allows, instead of being delivered late.
package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/pistoke/pistoke/groups"
)

// Defaults for Options.
const (
	// DefaultPrefix is the subject prefix when Options.Prefix is empty.
	DefaultPrefix = "pistoke."
	// DefaultPresenceTTL is Options.PresenceTTL when it is zero: the
	// members of a node killed without closing its backend are gone from
	// presence lists at once, and the node stops being waited for after
	// at most this long.
	DefaultPresenceTTL = 6 * time.Second
)

const (
	// msgQueue is the capacity of the channel between the connection's
	// reader and the delivery loop. deliver only enqueues, so the loop
	// keeps up unless a node is overloaded; past this many messages
	// nats.go drops new ones and reports a slow consumer.
	msgQueue = 64 << 10
	// opTimeout bounds a round trip to the server made under a context
	// without a deadline.
	opTimeout = 5 * time.Second
	// connectTimeout bounds each attempt to connect to a server.
	connectTimeout = 2 * time.Second
	// Reconnection backoff: the first attempt waits minBackoff, each
	// failed round doubles it up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	// pingInterval and maxPingsOut detect a server that stopped
	// answering without closing the connection.
	pingInterval = 5 * time.Second
	maxPingsOut  = 2
	// logEvery limits how often the same kind of asynchronous error is
	// logged.
	logEvery = 10 * time.Second
)

// Options configures a NATS backend.
type Options struct {
	// URL is the server to connect to, "nats://host:4222", or several
	// separated by commas (servers of one NATS cluster). User and
	// password may be given in it. Required unless Conn is set.
	URL string

	// Prefix starts every subject the backend uses; nodes of one cluster
	// must use the same, and separate clusters on one server different
	// ones. It must be a literal subject (no wildcards); a final '.' is
	// added when missing. Empty means DefaultPrefix.
	//
	// A group's messages are published on Prefix+"g."+token, where token
	// is the group name with every byte other than ASCII letters, digits
	// and '-' written as '_' and two hex digits ("room 1" becomes
	// "room_201"), or "_H" and the hex SHA-256 of the name when that
	// would exceed 200 bytes.
	Prefix string

	// PresenceTTL is how long a node that stopped announcing itself is
	// still waited for by presence lists; zero means DefaultPresenceTTL.
	// A node announces itself every PresenceTTL/3.
	PresenceTTL time.Duration

	// Conn, when set, is used instead of a connection of the backend's
	// own, and is not closed by Close. Create it with
	// nats.ReconnectBufSize(-1), so that Publish fails while the server
	// is unreachable instead of buffering, and nats.MaxReconnects(-1);
	// it must not use nats.NoEcho, since a node receives its own
	// messages.
	Conn *natsgo.Conn

	// Logger receives connection events (lost, back) and asynchronous
	// errors, each kind at most every ten seconds; nil means
	// slog.Default().
	Logger *slog.Logger
}

// backend implements groups.Backend over a NATS connection.
type backend struct {
	url    string // as given, for connecting
	safe   string // url without passwords, for messages
	subj   subjects
	ttl    time.Duration
	log    *slog.Logger
	node   string // this node's id in the presence protocol
	given  *natsgo.Conn
	lastAt [logKinds]atomic.Int64 // unix nanos of the last line logged, by kind (see every)

	// incomplete counts the lists that returned at their deadline
	// without the answer of a node they believed alive.
	incomplete atomic.Int64

	nc      *natsgo.Conn // set by Open
	deliver func(group string, msg []byte)
	msgs    chan *natsgo.Msg
	done    chan struct{}
	wg      sync.WaitGroup
	control *natsgo.Subscription

	// subMu guards the group subscriptions; the delivery loop reads
	// them for every message, so it is kept apart from mu.
	subMu   sync.RWMutex
	subs    map[string]*natsgo.Subscription
	groupOf map[*natsgo.Subscription]string

	// mu guards the presence state and the life cycle.
	mu          sync.Mutex
	state       int                                   // created, open or closed
	entries     map[string]map[string]json.RawMessage // group → key → encoded member
	nodes       map[string]nodeInfo                   // nodes heard from
	settleUntil time.Time                             // lists wait for unknown nodes until then
	reconnects  uint64                                // reconnections handled by rejoin
}

const (
	created = iota
	open
	closed
)

// New returns a backend for opts, to be passed to groups.New, which
// connects it: New checks opts but does not connect.
func New(ctx context.Context, opts Options) (groups.Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.URL == "" && opts.Conn == nil {
		return nil, errors.New("groups/nats: Options.URL is required")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, ".") {
		prefix += "."
	}
	if !validPrefix(prefix) {
		return nil, fmt.Errorf("groups/nats: Options.Prefix %q is not a literal subject", opts.Prefix)
	}
	ttl := opts.PresenceTTL
	if ttl == 0 {
		ttl = DefaultPresenceTTL
	}
	if ttl < 30*time.Millisecond {
		return nil, fmt.Errorf("groups/nats: Options.PresenceTTL %v is too short", opts.PresenceTTL)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails
	b := &backend{
		url:     opts.URL,
		safe:    redact(opts.URL),
		subj:    subjects{prefix: prefix},
		ttl:     ttl,
		node:    hex.EncodeToString(id[:]),
		given:   opts.Conn,
		subs:    make(map[string]*natsgo.Subscription),
		groupOf: make(map[*natsgo.Subscription]string),
		entries: make(map[string]map[string]json.RawMessage),
		nodes:   make(map[string]nodeInfo),
	}
	b.log = log.With("backend", "nats", "node", b.node)
	if b.given != nil && b.url == "" {
		b.safe = b.given.ConnectedUrlRedacted()
	}
	return b, nil
}

// redact removes passwords from a comma-separated list of URLs.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			p = u.Redacted()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// Open connects to the server, subscribes to the presence protocol and
// announces this node.
func (b *backend) Open(ctx context.Context, deliver func(group string, msg []byte)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		return errors.New("groups/nats: backend already open")
	case closed:
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	nc := b.given
	if nc == nil {
		timeout := connectTimeout
		if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
			timeout = max(time.Until(d), time.Millisecond)
		}
		var err error
		nc, err = natsgo.Connect(b.url,
			natsgo.Name("pistoke groups "+b.node),
			natsgo.Timeout(timeout),
			natsgo.MaxReconnects(-1),
			natsgo.CustomReconnectDelay(backoff),
			natsgo.ReconnectBufSize(-1),
			natsgo.PingInterval(pingInterval),
			natsgo.MaxPingsOutstanding(maxPingsOut),
			natsgo.DisconnectErrHandler(b.onDisconnect),
			natsgo.ReconnectHandler(b.onReconnect),
			natsgo.ErrorHandler(b.onAsyncError),
			natsgo.NoCallbacksAfterClientClose(),
		)
		if err != nil {
			return fmt.Errorf("%w: cannot connect to %s: %w", ErrUnreachable, b.safe, err)
		}
	} else if !nc.IsConnected() {
		return fmt.Errorf("%w: the connection to %s is not established", ErrUnreachable, b.safe)
	}
	fail := func(err error) error {
		if b.control != nil {
			_ = b.control.Unsubscribe()
			b.control = nil
		}
		if b.given == nil {
			nc.Close()
		}
		return err
	}
	control, err := nc.Subscribe(b.subj.control(), b.onControl)
	if err != nil {
		return fail(fmt.Errorf("groups/nats: subscribe to %s: %w", b.safe, err))
	}
	b.control = control
	if err := flush(ctx, nc); err != nil {
		return fail(fmt.Errorf("%w: %s did not answer: %w", ErrUnreachable, b.safe, err))
	}
	b.nc = nc
	b.deliver = deliver
	b.msgs = make(chan *natsgo.Msg, msgQueue)
	b.done = make(chan struct{})
	b.state = open
	b.reconnects = nc.Stats().Reconnects
	b.settleUntil = time.Now().Add(discoveryWait)
	b.announce(nc, kindHello)
	b.wg.Add(2)
	go b.deliverLoop()
	go b.heartbeat()
	return nil
}

// backoff is the delay before the attempts-th round of reconnection,
// from minBackoff doubling to maxBackoff, with up to a quarter more at
// random so that the nodes of a cluster do not all knock at once.
func backoff(attempts int) time.Duration {
	d := maxBackoff
	if attempts < 8 {
		d = min(minBackoff<<max(attempts-1, 0), maxBackoff)
	}
	return d + mrand.N(d/4+1)
}

// flush waits until the server has processed everything sent so far.
func flush(ctx context.Context, nc *natsgo.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opTimeout)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

// deliverLoop hands the messages of every group subscription to deliver,
// one at a time, in the order the connection received them: the server
// keeps one publisher's messages to a subject in order, and all group
// subscriptions feed one channel.
func (b *backend) deliverLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case m := <-b.msgs:
			b.subMu.RLock()
			group, ok := b.groupOf[m.Sub]
			b.subMu.RUnlock()
			if ok { // not a leftover of a subscription since removed
				b.deliver(group, m.Data)
			}
		}
	}
}

// Subscribe starts the delivery of group's messages to this node. It
// returns once the server has registered the subscription, so that a
// message published anywhere after it returns is delivered.
func (b *backend) Subscribe(ctx context.Context, group string) error {
	nc, err := b.conn()
	if err != nil {
		return err
	}
	b.subMu.Lock()
	if _, ok := b.subs[group]; ok {
		b.subMu.Unlock()
		return nil
	}
	sub, err := nc.ChanSubscribe(b.subj.group(group), b.msgs)
	if err != nil {
		b.subMu.Unlock()
		return b.wrap(fmt.Sprintf("subscribe to %q", group), err)
	}
	b.subs[group] = sub
	b.groupOf[sub] = group
	b.subMu.Unlock()
	if err := flush(ctx, nc); err != nil {
		b.subMu.Lock()
		if b.subs[group] == sub {
			delete(b.subs, group)
			delete(b.groupOf, sub)
			_ = sub.Unsubscribe()
		}
		b.subMu.Unlock()
		return b.wrap(fmt.Sprintf("subscribe to %q", group), err)
	}
	return nil
}

// Unsubscribe stops the delivery of group's messages to this node.
// Messages of group already received are dropped.
func (b *backend) Unsubscribe(ctx context.Context, group string) error {
	if _, err := b.conn(); err != nil && errors.Is(err, ErrClosed) {
		return err
	}
	b.subMu.Lock()
	defer b.subMu.Unlock()
	sub, ok := b.subs[group]
	if !ok {
		return nil
	}
	delete(b.subs, group)
	delete(b.groupOf, sub)
	// Unsubscribing removes the subscription locally even while the
	// connection is down, and nats.go does not restore it on reconnect.
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
		return b.wrap(fmt.Sprintf("unsubscribe from %q", group), err)
	}
	return nil
}

// Publish sends msg to every node subscribed to group. It does not wait
// for the server: it fails only while the connection is down, and a
// message on its way when the connection breaks is lost.
func (b *backend) Publish(ctx context.Context, group string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nc, err := b.conn()
	if err != nil {
		return err
	}
	if err := nc.Publish(b.subj.group(group), msg); err != nil {
		return b.wrap(fmt.Sprintf("publish to %q", group), err)
	}
	return nil
}

// Presence returns the backend's presence store.
func (b *backend) Presence() groups.PresenceStore { return &store{b} }

// Close says goodbye to the other nodes, so that their presence lists
// stop waiting for this one, stops deliveries and disconnects.
func (b *backend) Close() error {
	b.mu.Lock()
	if b.state != open {
		b.state = closed
		b.mu.Unlock()
		return nil
	}
	b.announce(b.nc, kindBye)
	b.state = closed
	b.entries = make(map[string]map[string]json.RawMessage)
	b.mu.Unlock()

	close(b.done)
	b.wg.Wait()
	b.subMu.Lock()
	for sub := range b.groupOf {
		_ = sub.Unsubscribe()
	}
	clear(b.subs)
	clear(b.groupOf)
	b.subMu.Unlock()
	_ = b.control.Unsubscribe()
	if b.given != nil {
		// The connection is the caller's: send the goodbye and the
		// unsubscriptions now rather than whenever it next flushes.
		if b.nc.IsConnected() {
			_ = b.nc.FlushTimeout(time.Second)
		}
		return nil
	}
	b.nc.Close() // flushes what is buffered
	return nil
}

// conn returns the connection when the backend is open and connected.
func (b *backend) conn() (*natsgo.Conn, error) {
	b.mu.Lock()
	state, nc := b.state, b.nc
	b.mu.Unlock()
	switch {
	case state == closed:
		return nil, ErrClosed
	case state != open:
		return nil, errors.New("groups/nats: backend not open")
	case !nc.IsConnected():
		return nil, fmt.Errorf("%w: connection to %s lost, reconnecting", ErrUnreachable, b.safe)
	}
	return nc, nil
}

// wrap turns an error of nats.go into one of this package.
func (b *backend) wrap(op string, err error) error {
	switch {
	case errors.Is(err, natsgo.ErrReconnectBufExceeded),
		errors.Is(err, natsgo.ErrConnectionReconnecting),
		errors.Is(err, natsgo.ErrConnectionClosed),
		errors.Is(err, natsgo.ErrTimeout):
		b.mu.Lock()
		state := b.state
		b.mu.Unlock()
		if state == closed {
			return ErrClosed
		}
		return fmt.Errorf("groups/nats: %s: %w: connection to %s lost: %w", op, ErrUnreachable, b.safe, err)
	}
	return fmt.Errorf("groups/nats: %s: %w", op, err)
}

// onDisconnect logs the loss of the connection, once per loss.
func (b *backend) onDisconnect(_ *natsgo.Conn, err error) {
	if err == nil {
		return // closed by Close
	}
	b.log.Warn("groups/nats: connection to the NATS server lost; reconnecting", "url", b.safe, "err", err)
}

// onReconnect logs the reconnection and announces this node again.
func (b *backend) onReconnect(nc *natsgo.Conn) {
	b.log.Info("groups/nats: reconnected to the NATS server", "url", nc.ConnectedUrlRedacted())
	b.rejoin(nc.Stats().Reconnects)
}

// onAsyncError logs the errors nats.go reports asynchronously (a slow
// consumer, a permission denied), each kind at most every logEvery.
func (b *backend) onAsyncError(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		// A write failing as the connection breaks: onDisconnect tells.
		b.log.Debug("groups/nats: write to the NATS server failed", "err", err)
		return
	}
	kind := logAsyncError
	if errors.Is(err, natsgo.ErrSlowConsumer) {
		kind = logSlowConsumer
	}
	if !b.every(kind) {
		return
	}
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	if kind == logSlowConsumer {
		b.log.Warn("groups/nats: messages dropped: this node cannot keep up with its groups", "subject", subject, "err", err)
		return
	}
	b.log.Error("groups/nats: error from the NATS server", "subject", subject, "err", err)
}

// Kinds of log lines written at most every logEvery.
const (
	logAsyncError = iota
	logSlowConsumer
	logSkipped // presence entries left out of an answer
	logKinds
)

// every reports whether a line of the kind may be logged now: none was
// in the last logEvery.
func (b *backend) every(kind int) bool {
	now := time.Now().UnixNano()
	last := b.lastAt[kind].Load()
	if last != 0 && now-last < int64(logEvery) {
		return false
	}
	return b.lastAt[kind].CompareAndSwap(last, now)
}
