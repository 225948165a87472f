package main

// Redis restarting under a cluster; cluster_test.go has the tests every
// broker passes.

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pistoke/pistoke/internal/testservers"
)

// Redis restarts empty under two nodes: the rooms answer 503 while it is
// down, then the nodes list their members again and messages flow, with
// no client reconnecting.
func TestRedisBrokerRestart(t *testing.T) {
	broker := testservers.StartRedis(t)
	nodes := startNodes(t, "-redis", broker.URL(), 2)
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
	if code := tryPost(t, nodes[1], "lobby", "while down"); code != http.StatusServiceUnavailable {
		t.Fatalf("POST with Redis down: %d, want 503", code)
	}
	broker.Restart()

	awaitPresence(t, nodes[1], "lobby", []string{"ann", "bob"}, 15*time.Second)
	// Messages published before ann's node has subscribed again are lost
	// for it: post until one arrives.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no message reached ann after the restart")
		}
		tryPost(t, nodes[1], "lobby", "after "+strconv.Itoa(i))
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
