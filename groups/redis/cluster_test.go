package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/groups/redis"
	"github.com/pistoke/pistoke/internal/testservers"
)

// clusterTimeout bounds each wait of the cluster tests; reaching it is a
// failure.
const clusterTimeout = 30 * time.Second

// clusterNode is one node of a cluster: a hub over its own Redis backend,
// serving sockets over real TCP. /g/{group}?id=ID joins the group, present
// as ID; the socket then receives "joined", and every message it sends is
// published to the group.
type clusterNode struct {
	hub *groups.Hub
	url string

	mu      sync.Mutex
	members map[string]*groups.Membership
}

func startClusterNode(t *testing.T, redisURL string, sharded bool) *clusterNode {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	b, err := redis.New(ctx, redis.Options{URL: redisURL, Sharded: sharded, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := groups.New(ctx, b, &groups.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{hub: hub, members: map[string]*groups.Membership{}}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /g/{group}", pistoke.HandlerFunc(n.serve))
	srv := httptest.NewUnstartedServer(pistoke.Handler(mux, pistoke.Options{
		Logger: logger,
		// The hub alone decides the fate of a slow client.
		WriteTimeout: -1,
		SendQueue:    -1,
		PingInterval: -1,
	}))
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	n.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() { hub.Close() })
	t.Cleanup(srv.Close)
	return n
}

func (n *clusterNode) serve(ws *pistoke.Conn) error {
	r := ws.Request()
	group, id := r.PathValue("group"), r.URL.Query().Get("id")
	m, err := n.hub.Join(ws, group, &groups.JoinOptions{Presence: &groups.Member{ID: id}})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.members[id] = m
	n.mu.Unlock()
	if err := ws.SendText("joined"); err != nil {
		return err
	}
	for typ, msg := range ws.Messages() {
		if err := n.hub.Publish(ws.Context(), group, typ, msg); err != nil {
			return err
		}
	}
	return ws.Err()
}

func (n *clusterNode) membership(id string) *groups.Membership {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.members[id]
}

// smallSendBuffers gives accepted connections a small socket send
// buffer, so that a client that does not read stops its server's writes
// after a few kilobytes rather than a few megabytes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8192)
	}
	return c, err
}

// dialMember connects id to group on n and waits until it has joined.
func dialMember(t *testing.T, n *clusterNode, group, id string, smallReads bool) *pistoke.Conn {
	t.Helper()
	var opts pistoke.DialOptions
	if smallReads {
		opts.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	ws, _, err := pistoke.Dial(ctx, n.url+"/g/"+group+"?id="+id, &opts)
	if err != nil {
		t.Fatal(err)
	}
	// Abrupt: a client that stopped reading cannot finish a closing
	// handshake.
	t.Cleanup(func() { ws.NetConn().Close() })
	_ = ws.NetConn().SetReadDeadline(time.Now().Add(clusterTimeout))
	typ, p, err := ws.Receive()
	if err != nil || typ != pistoke.Text || string(p) != "joined" {
		t.Fatalf("%s: first message %v %q %v, want \"joined\"", id, typ, p, err)
	}
	return ws
}

// TestCluster runs three nodes on one Redis, with clients spread over
// them and three of them publishing at once: every client receives every
// message exactly once, in each publisher's order, while a client on one
// node reads nothing at all.
func TestCluster(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) { testCluster(t, sharded) })
	}
}

func testCluster(t *testing.T, sharded bool) {
	srv := testservers.StartRedis(t)
	var nodes []*clusterNode
	for range 3 {
		nodes = append(nodes, startClusterNode(t, srv.URL(), sharded))
	}
	const (
		clients    = 9
		publishers = 3 // clients 0, 1 and 2, one on each node
		perPub     = 300
		window     = 16 // a publisher's messages not yet back
		size       = 1024
	)
	conns := make([]*pistoke.Conn, clients)
	for i := range conns {
		conns[i] = dialMember(t, nodes[i%3], "room", "c"+strconv.Itoa(i), false)
	}
	slow := dialMember(t, nodes[1], "room", "slow", true)
	_ = slow // joined, and never read again

	// Presence from any node lists every client, once.
	want := []string{"slow"}
	for i := range clients {
		want = append(want, "c"+strconv.Itoa(i))
	}
	slices.Sort(want)
	for _, n := range nodes {
		ms, err := n.hub.Presence(context.Background(), "room")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("presence = %v, want %v", got, want)
		}
	}

	// Each client's reader checks, per publisher, that message numbers
	// come one after the other: a loss, a duplicate or a reordering
	// fails. A publisher's reader returns its window slots as its own
	// messages come back, which keeps every fast member's queue far below
	// the hub's bound.
	slots := make([]chan struct{}, publishers)
	for p := range slots {
		slots[p] = make(chan struct{}, window)
		for range window {
			slots[p] <- struct{}{}
		}
	}
	errs := make(chan error, clients+publishers)
	var wg sync.WaitGroup
	for i, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readAll(ws, i, publishers, perPub, slots)
		}()
	}
	pad := strings.Repeat("x", size)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range perPub {
				select {
				case <-slots[p]:
				case <-time.After(clusterTimeout):
					errs <- fmt.Errorf("publisher %d: message %d did not come back", p, seq)
					return
				}
				msg := fmt.Sprintf("%d:%d:%s", p, seq, pad)
				if err := conns[p].SendText(msg); err != nil {
					errs <- fmt.Errorf("publisher %d: %w", p, err)
					return
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The client that never read was stuck behind a full socket, and
	// lost messages to its bounded queue, while everyone else got all.
	if d := nodes[1].membership("slow").Dropped(); d == 0 {
		t.Error("the client that never read lost no message: was it stuck at all?")
	} else {
		t.Logf("dropped for the client that never read: %d of %d", d, publishers*perPub)
	}
}

// readAll reads publishers*perPub messages on ws and checks their order.
func readAll(ws *pistoke.Conn, id, publishers, perPub int, slots []chan struct{}) error {
	next := make([]int, publishers)
	for range publishers * perPub {
		_ = ws.NetConn().SetReadDeadline(time.Now().Add(clusterTimeout))
		_, p, err := ws.Receive()
		if err != nil {
			return fmt.Errorf("client %d: %w after %v", id, err, next)
		}
		fields := strings.SplitN(string(p), ":", 3)
		pub, _ := strconv.Atoi(fields[0])
		seq, _ := strconv.Atoi(fields[1])
		if seq != next[pub] {
			return fmt.Errorf("client %d: from publisher %d got message %d, want %d", id, pub, seq, next[pub])
		}
		next[pub]++
		if pub == id {
			slots[pub] <- struct{}{}
		}
	}
	return nil
}
