// Package redis is a groups.Backend over Redis, for a cluster of nodes
// that share one Redis server (or one Redis Cluster).
//
// Messages travel over Redis pub/sub: one channel per group, one
// subscribing connection per node for all its groups. Pub/sub keeps
// nothing, so delivery is at most once: a message published while a node
// is cut off from Redis is lost for that node. The subscribing connection
// reconnects on its own and resubscribes every group; Publish returns an
// error, rather than waiting, while Redis is unreachable.
//
// Presence lives in one hash per group. Each entry names the node that
// added it, and each node keeps a liveness key alive by heartbeat every
// PresenceTTL/3: when a node stops without Close its key expires and its
// entries drop out of List, which also deletes them. Each node keeps a
// copy of its own entries and writes them back when it finds its liveness
// key gone, as after a restart of a Redis that does not persist its data.
//
// Use it through package groups:
//
//	b, err := redis.New(ctx, redis.Options{URL: "redis://127.0.0.1:6379"})
//	if err != nil { ... }
//	hub, err := groups.New(ctx, b, nil)
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pistoke/pistoke/groups"
)

// DefaultPrefix starts the names of the keys and channels a backend uses
// when Options.Prefix is empty.
const DefaultPrefix = "pistoke:"

// DefaultPresenceTTL is the presence TTL used when Options.PresenceTTL is
// zero.
const DefaultPresenceTTL = 6 * time.Second

// ErrClosed is returned by the methods of a backend that has been closed.
var ErrClosed = errors.New("redis: backend closed")

// Options configure a Redis backend.
type Options struct {
	// URL locates the server: redis://[user:password@]host:port[/db], or
	// rediss:// for TLS; query parameters set client options (see the
	// go-redis ParseURL documentation). Required unless Client is set.
	URL string

	// Prefix starts every key and channel name the backend uses, so that
	// several applications can share one Redis; nodes of one cluster must
	// use the same prefix. Empty means DefaultPrefix.
	Prefix string

	// PresenceTTL is how long the presence entries of a node outlive its
	// last heartbeat; heartbeats run every PresenceTTL/3. The entries of a
	// node that crashes drop out of presence within this time. Zero means
	// DefaultPresenceTTL (6 s); keep it at most 10 s, so that the members
	// of a crashed node leave presence lists within seconds. Shorter
	// values cost more heartbeats and tolerate shorter stalls of a node
	// before its entries are taken for dead (they come back at its next
	// heartbeat).
	PresenceTTL time.Duration

	// Sharded carries messages with SPUBLISH and SSUBSCRIBE (sharded
	// pub/sub, Redis 7 or later) instead of PUBLISH and SUBSCRIBE. On a
	// Redis Cluster, plain pub/sub copies every message to every node of
	// the cluster; sharded pub/sub sends it only to the shard that owns
	// the group's channel, so the cluster's pub/sub capacity grows with its
	// shards. With a go-redis *ClusterClient the backend then keeps one
	// subscribing connection per shard master rather than one in all. On
	// a single server it works too, and changes nothing but the commands.
	// All nodes of a cluster must agree on it.
	Sharded bool

	// Client, when set, is used instead of a client made from URL: a
	// go-redis *Client (also one from NewFailoverClient, for Sentinel) or
	// *ClusterClient. The backend does not close it. A client made from
	// URL has command retries turned off unless the URL sets max_retries,
	// so that a message is never published twice, dials once per attempt,
	// and honours context deadlines; configure a Client brought here
	// alike (MaxRetries -1, DialerRetries 1, ContextTimeoutEnabled).
	Client goredis.UniversalClient

	// Logger receives the backend's reports of lost and restored
	// connections. Nil means slog.Default().
	Logger *slog.Logger
}

// Timeouts of the backend's own work; failure bounds, not delays.
const (
	// subscribeTimeout bounds Subscribe's wait for the server's
	// confirmation when the caller's context has no earlier deadline.
	subscribeTimeout = 5 * time.Second
	// closeTimeout bounds the removal of presence entries in Close.
	closeTimeout = 2 * time.Second
	// healthInterval is how often a subscribing connection pings the
	// server; a connection silent for twice as long is taken for dead
	// and replaced, which catches a server that vanished without closing
	// the connection.
	healthInterval = 2 * time.Second
)

// New returns a Redis backend for a groups.Hub, after checking that the
// server answers. It fails with an error naming the server when it does
// not, or when opts are invalid.
func New(ctx context.Context, opts Options) (groups.Backend, error) {
	b, err := newBackend(opts)
	if err != nil {
		return nil, err
	}
	if err := b.ping(ctx); err != nil {
		if b.owned {
			_ = b.client.Close()
		}
		return nil, err
	}
	return b, nil
}

// backend implements groups.Backend. Its methods are safe for concurrent
// use.
type backend struct {
	client  goredis.UniversalClient
	owned   bool   // made from URL: closed by Close
	where   string // the server, for errors (password removed)
	prefix  string
	chans   string // prefix of channel names: prefix + "msg:"
	ttl     time.Duration
	sharded bool
	cluster *goredis.ClusterClient // set when sharded over a cluster client
	log     *slog.Logger
	node    string // this node's identity in presence entries

	closed atomic.Bool

	ctx    context.Context // ends at Close: stops background work
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines other than shards'

	// deliverMu makes the calls of deliver one at a time when several
	// shards receive at once.
	deliverMu sync.Mutex
	deliver   func(group string, msg []byte)

	mu     sync.RWMutex
	opened bool
	def    *shard            // the one shard, unless sharded over a cluster
	shards map[string]*shard // by master address, sharded over a cluster
	groups map[string]*shard // subscribed groups; moving while rerouted

	pres presence
	kick chan struct{} // asks the heartbeat to run now
}

func newBackend(opts Options) (*backend, error) {
	b := &backend{
		prefix:  opts.Prefix,
		ttl:     opts.PresenceTTL,
		sharded: opts.Sharded,
		log:     opts.Logger,
		groups:  make(map[string]*shard),
		shards:  make(map[string]*shard),
		kick:    make(chan struct{}, 1),
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	b.chans = b.prefix + "msg:"
	if b.ttl == 0 {
		b.ttl = DefaultPresenceTTL
	}
	if b.ttl < 30*time.Millisecond {
		return nil, fmt.Errorf("redis: PresenceTTL %v is too short", opts.PresenceTTL)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	switch {
	case opts.Client != nil:
		b.client = opts.Client
		b.where = clientAddr(opts.Client)
	case opts.URL == "":
		return nil, errors.New("redis: Options.URL is required")
	default:
		o, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: bad URL %s: %w", redact(opts.URL), err)
		}
		if o.MaxRetries == 0 {
			// A retried PUBLISH whose first attempt reached the server
			// delivers the message twice.
			o.MaxRetries = -1
		}
		// One dial per attempt: while the server is down Publish should
		// fail at once, and the backend's own loops retry on their own.
		o.DialerRetries = 1
		o.ContextTimeoutEnabled = true
		b.client = goredis.NewClient(o)
		b.owned = true
		b.where = redact(opts.URL)
	}
	if cc, ok := b.client.(*goredis.ClusterClient); ok && b.sharded {
		b.cluster = cc
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	b.node = hex.EncodeToString(id)
	b.pres.b = b
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

// redact returns u without its password, for error messages and logs.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the configured URL"
	}
	return p.Redacted()
}

func clientAddr(c goredis.UniversalClient) string {
	switch c := c.(type) {
	case *goredis.Client:
		return "redis://" + c.Options().Addr
	case *goredis.ClusterClient:
		return fmt.Sprintf("redis cluster %v", c.Options().Addrs)
	}
	return "the configured client"
}

func (b *backend) ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: cannot reach %s: %w", b.where, err)
	}
	return nil
}

// Names of keys and channels.
func (b *backend) channel(group string) string { return b.chans + group }
func (b *backend) hashKey(group string) string { return b.prefix + "presence:" + group }
func (b *backend) nodeKey(node string) string  { return b.prefix + "node:" + node }

// groupOf returns the group whose channel is ch, if ch is one.
func (b *backend) groupOf(ch string) (string, bool) { return strings.CutPrefix(ch, b.chans) }

// Open implements groups.Backend: it checks that the server answers,
// registers this node as alive, and starts receiving.
func (b *backend) Open(ctx context.Context, deliver func(group string, msg []byte)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	if b.opened {
		return errors.New("redis: backend already open")
	}
	if err := b.ping(ctx); err != nil {
		return err
	}
	if err := b.client.Set(ctx, b.nodeKey(b.node), "1", b.ttl).Err(); err != nil {
		return fmt.Errorf("redis: registering node on %s: %w", b.where, err)
	}
	b.deliver = deliver
	if b.cluster == nil {
		b.def = b.newShard(b.client, "")
	}
	b.opened = true
	b.wg.Add(1)
	go b.heartbeat()
	return nil
}

// Close implements groups.Backend: it stops deliveries and the heartbeat,
// removes this node's presence entries and liveness key, and disconnects.
// Removing the entries is bounded by a short timeout; when Redis cannot be
// reached they expire with the node's key instead, and Close reports the
// error.
func (b *backend) Close() error {
	// Set under b.mu, under which reroutes check it before they join
	// b.wg: none starts once b.wg is being waited for.
	b.mu.Lock()
	already := b.closed.Swap(true)
	b.mu.Unlock()
	if already {
		return nil
	}
	b.cancel()
	// The heartbeat must not write entries back after their removal.
	b.wg.Wait()

	var err error
	b.mu.Lock()
	opened := b.opened
	shards := make([]*shard, 0, len(b.shards)+1)
	if b.def != nil {
		shards = append(shards, b.def)
	}
	for _, s := range b.shards {
		shards = append(shards, s)
	}
	b.mu.Unlock()
	if opened {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		err = b.pres.removeAll(ctx)
		cancel()
	}
	for _, s := range shards {
		s.close()
	}
	if b.owned {
		_ = b.client.Close()
	}
	return err
}

func (b *backend) checkOpen() error {
	if b.closed.Load() {
		return ErrClosed
	}
	b.mu.RLock()
	opened := b.opened
	b.mu.RUnlock()
	if !opened {
		return errors.New("redis: backend not open")
	}
	return nil
}

// Presence implements groups.Backend.
func (b *backend) Presence() groups.PresenceStore { return &b.pres }

// conditionLog reports the transitions of one condition (a connection
// lost, then restored) once each, however often the failure repeats.
type conditionLog struct {
	log  *slog.Logger
	what string // "subscription to redis://..." say
	down bool
}

func (c *conditionLog) fail(err error) {
	if !c.down {
		c.down = true
		c.log.Warn("redis: "+c.what+" failing", "err", err)
	}
}

func (c *conditionLog) ok() (recovered bool) {
	if c.down {
		c.down = false
		c.log.Info("redis: " + c.what + " restored")
		return true
	}
	return false
}
