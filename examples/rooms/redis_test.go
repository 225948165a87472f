package main

// These tests run rooms processes sharing one redis-server, the cluster
// the -redis flag makes, and check the contract across them.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	groupsredis "github.com/pistoke/pistoke/groups/redis"
	"github.com/pistoke/pistoke/internal/testservers"
)

// redisPresenceTTL is the longest a killed node's members may stay in
// presence lists: the backend's default TTL, which the contract bounds by
// 10 s.
const redisPresenceTTL = groupsredis.DefaultPresenceTTL

// redisNodes starts a redis-server and n rooms processes on it.
func redisNodes(t *testing.T, n int) (*testservers.Redis, []*server) {
	t.Helper()
	broker := testservers.StartRedis(t)
	var nodes []*server
	for range n {
		nodes = append(nodes, startServer(t, "-redis", broker.URL()))
	}
	return broker, nodes
}

// redisAwaitPresence polls a node's presence until it is want, failing the
// test after limit, and returns how long it took.
func redisAwaitPresence(t *testing.T, s *server, room string, want []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, ok := redisTryPresence(s, room)
		if ok && slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%v on, presence on %s is %q, want %q", limit, s.addr, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the HTTP contract; the server offers no signal
	}
}

// redisTryPresence is presence that reports failure (a 503 while the
// broker is down) instead of failing the test.
func redisTryPresence(s *server, room string) ([]string, bool) {
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

// A member's message reaches the members on every node, its sender
// included; a POST on any node reaches them all; every node lists every
// member.
func TestRedisCrossNode(t *testing.T) {
	_, nodes := redisNodes(t, 3)
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
		redisAwaitPresence(t, s, "lobby", []string{"ann", "cid"}, 2*time.Second)
	}
}

// The members of a node killed with SIGKILL, which says goodbye to
// nobody, are gone from the other nodes' presence within the TTL, and the
// survivors keep talking.
func TestRedisKilledNode(t *testing.T) {
	_, nodes := redisNodes(t, 3)
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
		took := redisAwaitPresence(t, s, "lobby", []string{"ann", "cid"}, redisPresenceTTL)
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

// Redis restarts empty under two nodes: the rooms answer 503 while it is
// down, then the nodes list their members again and messages flow, with
// no client reconnecting.
func TestRedisBrokerRestart(t *testing.T) {
	broker, nodes := redisNodes(t, 2)
	ann := join(t, nodes[0], "lobby", "ann")
	join(t, nodes[1], "lobby", "bob")

	// ann's messages, read as they come.
	got := make(chan string, 100)
	go func() {
		defer close(got)
		for {
			msg, err := ann.receive()
			if err != nil {
				return
			}
			got <- msg
		}
	}()

	broker.Stop()
	if code := redisTryPost(t, nodes[1], "lobby", "while down"); code != http.StatusServiceUnavailable {
		t.Fatalf("POST with Redis down: %d, want 503", code)
	}
	broker.Restart()

	redisAwaitPresence(t, nodes[1], "lobby", []string{"ann", "bob"}, 15*time.Second)
	// Messages published before ann's node has subscribed again are lost
	// for it: post until one arrives.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no message reached ann after the restart")
		}
		redisTryPost(t, nodes[1], "lobby", "after "+strconv.Itoa(i))
		select {
		case msg := <-got:
			if msg == "while down" {
				t.Fatalf("ann received a message that was refused with 503")
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// redisTryPost posts text to room and returns the status code.
func redisTryPost(t *testing.T, s *server, room, text string) int {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+"/rooms/"+room, "text/plain; charset=utf-8", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
