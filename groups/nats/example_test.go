package nats_test

import (
	"context"
	"log"
	"net/http"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	groupsnats "github.com/pistoke/pistoke/groups/nats"
)

// Every node of the cluster runs the same code against the same NATS server;
// a message published on any node reaches the members on all of them.
func Example() {
	ctx := context.Background()
	backend, err := groupsnats.New(ctx, groupsnats.Options{URL: "nats://127.0.0.1:4222"})
	if err != nil {
		log.Fatal(err)
	}
	hub, err := groups.New(ctx, backend, nil) // fails clearly if NATS is unreachable
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /chat/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		room := ws.Request().PathValue("room")
		if _, err := hub.Join(ws, room, nil); err != nil {
			return err
		}
		for _, msg := range ws.Messages() {
			if err := hub.Publish(ws.Context(), room, pistoke.Text, msg); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	log.Fatal(http.ListenAndServe("127.0.0.1:8000", pistoke.Handler(mux, pistoke.Options{})))
}
