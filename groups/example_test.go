package groups_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/pistoketest"
)

// A chat room: every message a member sends reaches every member, the
// sender included, and the room lists who is present.
func Example() {
	ctx := context.Background()
	hub, err := groups.New(ctx, nil, nil) // in-process; pass a Redis or NATS backend for a cluster
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /rooms/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		room, name := ws.Request().PathValue("room"), ws.Request().URL.Query().Get("name")
		// The membership ends by itself when the connection does.
		if _, err := hub.Join(ws, room, &groups.JoinOptions{Presence: &groups.Member{ID: name}}); err != nil {
			return err
		}
		if err := ws.SendText("welcome, " + name); err != nil {
			return err
		}
		for _, msg := range ws.Messages() {
			if err := hub.PublishText(ws.Context(), room, name+": "+string(msg)); err != nil {
				return err
			}
		}
		return ws.Err()
	}))

	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	defer c.Close()
	ann, _ := c.Dial(ctx, "/rooms/lobby?name=ann", nil)
	fmt.Println(ann.ReceiveText())
	bob, _ := c.Dial(ctx, "/rooms/lobby?name=bob", nil)
	fmt.Println(bob.ReceiveText())

	ann.SendText("hello")
	fmt.Println(ann.ReceiveText())
	fmt.Println(bob.ReceiveText())

	present, _ := hub.Presence(ctx, "lobby")
	for _, m := range present {
		fmt.Println("present:", m.ID)
	}
	ann.Close()
	bob.Close()
	// Output:
	// welcome, ann <nil>
	// welcome, bob <nil>
	// ann: hello <nil>
	// ann: hello <nil>
	// present: ann
	// present: bob
}

// A subscription receives a group's messages and presence events, for
// code that handles them itself.
func ExampleHub_Subscribe() {
	ctx := context.Background()
	hub, err := groups.New(ctx, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	sub, err := hub.Subscribe(ctx, "orders", 16)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	hub.PublishJSON(ctx, "orders", map[string]any{"id": 7, "status": "shipped"})
	ev := <-sub.C()
	fmt.Println(ev.Kind, ev.Type, string(ev.Data))
	// Output:
	// Message text {"id":7,"status":"shipped"}
}
