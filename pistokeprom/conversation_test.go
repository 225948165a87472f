package pistokeprom_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistokeprom"
	"github.com/pistoke/pistoke/pistoketest"
)

// closeSignal passes every call on to Metrics and reports each Closed,
// which pistoke makes once the connection is fully released, after the
// test's side may already have seen the close.
type closeSignal struct {
	*pistokeprom.Metrics
	closed chan pistoke.CloseInfo
}

func (s closeSignal) Closed(info pistoke.CloseInfo) {
	s.Metrics.Closed(info)
	s.closed <- info
}

func TestCountsARealConversation(t *testing.T) {
	m := pistokeprom.New(pistokeprom.Opts{})
	sig := closeSignal{m, make(chan pistoke.CloseInfo, 10)}
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		for typ, msg := range ws.Messages() {
			if err := ws.Send(typ, msg); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	mux.Handle("WEBSOCKET /bye/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		return &pistoke.CloseError{Code: 4001, Reason: "bye"}
	}))
	c := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{Metrics: sig}))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, err := c.Dial(ctx, "/echo/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SendText("hello"); err != nil {
		t.Fatal(err)
	}
	if got, err := ws.ReceiveText(); err != nil || got != "hello" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if err := ws.SendBinary([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.Receive(); err != nil || len(got) != 3 {
		t.Fatalf("binary echo: %v, %v", got, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}

	bye, err := c.Dial(ctx, "/bye/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, err := bye.CloseCode(); err != nil || code != 4001 {
		t.Fatalf("close code %d, %v; want 4001", code, err)
	}
	bye.Close()

	var refused *pistoketest.RefusedError
	if _, err := c.Dial(ctx, "/echo/", &pistoketest.DialOptions{Origin: "http://elsewhere.example"}); !errors.As(err, &refused) || refused.Status != http.StatusForbidden {
		t.Fatalf("dial from another origin: %v; want 403", err)
	}
	if _, err := c.Dial(ctx, "/nowhere/", nil); !errors.As(err, &refused) || refused.Status != http.StatusNotFound {
		t.Fatalf("dial to no route: %v; want 404", err)
	}

	for range 2 {
		select {
		case <-sig.closed:
		case <-ctx.Done():
			t.Fatal("pistoke did not report both connections closed")
		}
	}
	want := exposition("pistoke", "connections_open", ` 0`) +
		handshakes(map[string]int{"accepted": 2, "origin": 1, "rejected": 1}) +
		messages("received", 1, 1) +
		messages("sent", 1, 1) +
		exposition("pistoke", "received_bytes_total", ` 8`) +
		exposition("pistoke", "sent_bytes_total", ` 8`) +
		exposition("pistoke", "closes_total", `{by="client",code="1000"} 1`, `{by="server",code="4001"} 1`)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"pistoke_connections_open", "pistoke_handshakes_total",
		"pistoke_messages_received_total", "pistoke_messages_sent_total",
		"pistoke_received_bytes_total", "pistoke_sent_bytes_total", "pistoke_closes_total"); err != nil {
		t.Error(err)
	}
	if n := value(t, m, "pistoke_send_dropped_total"); n != 0 {
		t.Errorf("send_dropped_total = %v; want 0", n)
	}
	if h := series(t, m, "pistoke_connection_duration_seconds"); len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 2 {
		t.Errorf("connection_duration_seconds: %v; want one series of 2 observations", h)
	}
}
