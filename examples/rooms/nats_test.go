package main

// These tests run three rooms processes sharing one nats-server, the
// cluster the -nats flag makes, and check the contract across them.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	groupsnats "github.com/pistoke/pistoke/groups/nats"
	"github.com/pistoke/pistoke/internal/testservers"
)

// natsPresenceTTL is the longest a killed node's members may stay in
// presence lists: the backend's default TTL, which the contract bounds
// by 10 s.
const natsPresenceTTL = groupsnats.DefaultPresenceTTL

// natsCluster starts a nats-server and n rooms processes on it.
func natsCluster(t *testing.T, n int) []*server {
	t.Helper()
	broker := testservers.StartNATS(t)
	var nodes []*server
	for range n {
		nodes = append(nodes, startServer(t, "-nats", broker.URL()))
	}
	return nodes
}

// natsAwaitPresence polls a node's presence until it is want, failing
// the test after limit.
func natsAwaitPresence(t *testing.T, s *server, room string, want []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := presence(t, s, room)
		if slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%v on, presence on %s is %q, want %q", limit, s.addr, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the HTTP contract; the server offers no signal
	}
}

// A member's message reaches the members on every node, its sender
// included; a POST on any node reaches them all; every node lists every
// member.
func TestNATSCrossNode(t *testing.T) {
	nodes := natsCluster(t, 3)
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
	const msgs = 100
	senders := []*member{ann, cid}
	var wg sync.WaitGroup
	for _, snd := range senders {
		wg.Go(func() {
			for i := range msgs {
				if err := snd.ws.SendText(snd.id + " " + strconv.Itoa(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	errs := make(chan error, len(members))
	for _, m := range members {
		wg.Go(func() {
			next := map[string]int{}
			for range len(senders) * msgs {
				msg, err := m.receive()
				if err != nil {
					errs <- fmt.Errorf("%s: %w", m.id, err)
					return
				}
				from, n, _ := strings.Cut(msg, " ")
				if i, err := strconv.Atoi(n); err != nil || i != next[from] {
					errs <- fmt.Errorf("%s received %q when %s %d was due", m.id, msg, from, next[from])
					return
				}
				next[from]++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A member whose socket closes is gone from every node within 2 s.
	if err := bob.ws.Close(pistoke.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*server{nodes[0], nodes[2]} {
		natsAwaitPresence(t, s, "lobby", []string{"ann", "cid"}, 2*time.Second)
	}
}

// The members of a node killed with SIGKILL, which says goodbye to
// nobody, are gone from the other nodes' presence within the TTL, and
// the survivors keep talking.
func TestNATSKilledNode(t *testing.T) {
	nodes := natsCluster(t, 3)
	ann := join(t, nodes[0], "lobby", "ann")
	join(t, nodes[1], "lobby", "bob")
	join(t, nodes[1], "lobby", "bea")
	cid := join(t, nodes[2], "lobby", "cid")
	if got, want := presence(t, nodes[0], "lobby"), []string{"ann", "bea", "bob", "cid"}; !slices.Equal(got, want) {
		t.Fatalf("presence before the kill = %q, want %q", got, want)
	}

	victim := nodes[1]
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	for _, s := range []*server{nodes[0], nodes[2]} {
		took := natsAwaitPresence(t, s, "lobby", []string{"ann", "cid"}, natsPresenceTTL)
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
}
