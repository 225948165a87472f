package pistoke_test

import (
	"errors"
	"net/http"
	"runtime"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// Broadcasts (package groups) write messages encoded once, in batches.
func TestPreparedMessagesAndOnClose(t *testing.T) {
	closed := make(chan struct{})
	ready := make(chan *pistoke.Conn, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /push/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		ws.OnClose(func() { close(closed) })
		ready <- ws
		_, _, err := ws.Receive()
		return err
	}))
	url := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger(), Compression: &pistoke.Compression{Threshold: -1}}))
	ws := dialOK(t, url+"/push/", &pistoke.DialOptions{Compression: &pistoke.Compression{}})
	server := <-ready

	a, err := broadcast.Prepare(wire.OpText, []byte("first, prepared"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := broadcast.Prepare(wire.OpBinary, []byte{1, 2, 3})
	c, _ := broadcast.Prepare(wire.OpText, []byte("third, in the same write"))
	if err := broadcast.SendBatch(server, []*wire.PreparedMessage{a}); err != nil {
		t.Fatal(err)
	}
	if err := broadcast.SendBatch(server, []*wire.PreparedMessage{b, c, a}); err != nil {
		t.Fatal(err)
	}
	expectText(t, ws, "first, prepared")
	if typ, p, err := ws.Receive(); err != nil || typ != pistoke.Binary || string(p) != "\x01\x02\x03" {
		t.Fatalf("second message: %v %v %v", typ, p, err)
	}
	expectText(t, ws, "third, in the same write")
	expectText(t, ws, "first, prepared")

	// A socket with room takes a try at once, compressed like the rest.
	err = broadcast.TrySendBatch(server, []*wire.PreparedMessage{c, a})
	switch {
	case runtime.GOOS != "linux":
		if !errors.Is(err, broadcast.ErrWouldBlock) {
			t.Fatalf("TrySendPreparedBatch on %s = %v, want ErrWouldBlock", runtime.GOOS, err)
		}
		broadcast.SendBatch(server, []*wire.PreparedMessage{c, a})
	case err != nil:
		t.Fatalf("TrySendPreparedBatch: %v", err)
	}
	expectText(t, ws, "third, in the same write")
	expectText(t, ws, "first, prepared")

	if _, err := broadcast.Prepare(wire.OpText, []byte{0xff}); err == nil {
		t.Error("NewPreparedMessage accepted invalid UTF-8 text")
	}
	ws.Close(pistoke.CloseNormal, "")
	<-closed // OnClose ran
	ran := make(chan struct{})
	server.OnClose(func() { close(ran) })
	<-ran // and runs at once on an ended connection
	if err := broadcast.TrySendBatch(server, []*wire.PreparedMessage{a}); !errors.Is(err, pistoke.ErrClosed) {
		t.Errorf("TrySendPreparedBatch after the end = %v, want ErrClosed", err)
	}
}
