package main

// These tests run rooms processes sharing one broker, the cluster the
// -redis and -nats flags make, and check the contract across them.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	groupsnats "github.com/pistoke/pistoke/groups/nats"
	groupsredis "github.com/pistoke/pistoke/groups/redis"
	"github.com/pistoke/pistoke/internal/testservers"
)

// broker is a kind of broker the nodes of a cluster can share.
type broker struct {
	name string
	flag string // the rooms flag that takes its URL
	// ttl is the longest a killed node's members may stay in presence
	// lists: the backend's default TTL, which the contract bounds by 10 s.
	ttl time.Duration
	// start starts a broker for the test and returns its URL.
	start func(t *testing.T) string
}

var brokers = []broker{
	{"redis", "-redis", groupsredis.DefaultPresenceTTL, func(t *testing.T) string { return testservers.StartRedis(t).URL() }},
	{"nats", "-nats", groupsnats.DefaultPresenceTTL, func(t *testing.T) string { return testservers.StartNATS(t).URL() }},
}

// forEachBroker runs test once per kind of broker.
func forEachBroker(t *testing.T, test func(t *testing.T, b broker)) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// startNodes starts n rooms processes on the broker at url.
func startNodes(t *testing.T, flag, url string, n int) []*server {
	t.Helper()
	var nodes []*server
	for range n {
		nodes = append(nodes, startServer(t, flag, url))
	}
	return nodes
}

// awaitPresence polls a node's presence until it is want, failing the
// test after limit, and returns how long it took.
func awaitPresence(t *testing.T, s *server, room string, want []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, ok := tryPresence(s, room)
		if ok && slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%v on, presence on %s is %q, want %q", limit, s.addr, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the HTTP contract; the server offers no signal
	}
}

// tryPresence is presence that reports failure (a 503 while the broker
// is down) instead of failing the test.
func tryPresence(s *server, room string) ([]string, bool) {
	resp, err := http.Get("http://" + s.addr + "/rooms/" + room + "/presence")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	var ids []string
	if err := json.NewDecoder(resp.Body).Decode(&ids); err != nil {
		return nil, false
	}
	return ids, true
}

// tryPost posts text to room and returns the status code.
func tryPost(t *testing.T, s *server, room, text string) int {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+"/rooms/"+room, "text/plain; charset=utf-8", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A member's message reaches the members on every node, its sender
// included; a POST on any node reaches them all; every node lists every
// member.
func TestClusterCrossNode(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b broker) {
		nodes := startNodes(t, b.flag, b.start(t), 3)
		ann := join(t, nodes[0], "lobby", "ann")
		bob := join(t, nodes[1], "lobby", "bob")
		cid := join(t, nodes[2], "lobby", "cid")
		members := []*member{ann, bob, cid}

		if err := ann.ws.SendText("hello from A"); err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			if got, err := m.receive(); err != nil || got != "hello from A" {
				t.Fatalf("%s received %q (%v), want ann's message", m.id, got, err)
			}
		}
		post(t, nodes[2], "lobby", "posted on C")
		for _, m := range members {
			if got, err := m.receive(); err != nil || got != "posted on C" {
				t.Fatalf("%s received %q (%v), want the POST", m.id, got, err)
			}
		}
		for _, s := range nodes {
			if got, want := presence(t, s, "lobby"), []string{"ann", "bob", "cid"}; !slices.Equal(got, want) {
				t.Errorf("presence on %s = %q, want %q", s.addr, got, want)
			}
		}

		// Senders on two nodes at once: every member, on every node, gets
		// each sender's messages in the order sent.
		sendConcurrently(t, []*member{ann, cid}, members, 100)

		// A member whose socket closes is gone from every node within 2 s.
		if err := bob.ws.Close(pistoke.CloseNormal, ""); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*server{nodes[0], nodes[2]} {
			awaitPresence(t, s, "lobby", []string{"ann", "cid"}, 2*time.Second)
		}
	})
}

// The members of a node killed with SIGKILL, which says goodbye to
// nobody, are gone from the other nodes' presence within the TTL, and the
// survivors keep talking.
func TestClusterKilledNode(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b broker) {
		nodes := startNodes(t, b.flag, b.start(t), 3)
		ann := join(t, nodes[0], "lobby", "ann")
		join(t, nodes[1], "lobby", "bob")
		join(t, nodes[1], "lobby", "bea")
		cid := join(t, nodes[2], "lobby", "cid")
		if got, want := presence(t, nodes[0], "lobby"), []string{"ann", "bea", "bob", "cid"}; !slices.Equal(got, want) {
			t.Fatalf("presence before the kill = %q, want %q", got, want)
		}

		victim := nodes[1]
		if err := victim.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-victim.Exited()
		for _, s := range []*server{nodes[0], nodes[2]} {
			took := awaitPresence(t, s, "lobby", []string{"ann", "cid"}, b.ttl)
			t.Logf("killed node's members gone from %s's presence after %v", s.addr, took.Round(time.Millisecond))
		}

		if err := cid.ws.SendText("still here"); err != nil {
			t.Fatal(err)
		}
		for _, m := range []*member{ann, cid} {
			if got, err := m.receive(); err != nil || got != "still here" {
				t.Fatalf("%s received %q (%v) after the kill", m.id, got, err)
			}
		}
	})
}
