package pistoke_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pistoke/pistoke"
)

func TestClientGoneCancelsContextWhileNotReceiving(t *testing.T) {
	cancelled := make(chan error, 1)
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /wait/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		ctx := ws.Context()
		done := ctx.Done()
		close(started)
		<-done
		cancelled <- ctx.Err()
		_, _, err := ws.Receive()
		return err
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws, _, err := pistoke.Dial(context.Background(), base+"/wait/", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	ws.NetConn().Close() // vanish without a closing handshake
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("ctx.Err() = %v, want context.Canceled", err)
	}
}

func TestClientGoneEndsReceiveWithErrClosed(t *testing.T) {
	got := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /recv/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, _, err := ws.Receive()
		got <- err
		if ws.Context().Err() == nil {
			t.Error("context not cancelled after the client left")
		}
		return err
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	for _, how := range []string{"close frame", "vanish"} {
		ws, _, err := pistoke.Dial(context.Background(), base+"/recv/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if how == "vanish" {
			ws.NetConn().Close()
		} else {
			ws.Close(pistoke.CloseGoingAway, "tab closed")
		}
		err = <-got
		if !errors.Is(err, pistoke.ErrClosed) {
			t.Fatalf("%s: Receive = %v, want ErrClosed", how, err)
		}
		var ce *pistoke.CloseError
		if how == "close frame" && (!errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway || ce.Reason != "tab closed") {
			t.Fatalf("close frame: %v, want 1001 tab closed", err)
		}
	}
}

func TestWatchingAndReceivingTogether(t *testing.T) {
	// A handler that looks at its context and then receives still gets
	// every message, in order.
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /both/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_ = ws.Context().Done()
		return echo(ws)
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/both/", nil)
	for _, m := range []string{"one", "two", "three"} {
		if err := ws.SendText(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"one", "two", "three"} {
		expectText(t, ws, m)
	}
}

func TestReadLimitPerHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /small/", pistoke.Protocol{ReadLimit: 16}.Wrap(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /default/", pistoke.HandlerFunc(echo))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))

	ws := dialOK(t, base+"/small/", nil)
	ws.SendText(strings.Repeat("x", 16))
	expectText(t, ws, strings.Repeat("x", 16))
	ws.SendText(strings.Repeat("x", 17))
	expectClose(t, ws, pistoke.CloseMessageTooBig)

	ws = dialOK(t, base+"/default/", &pistoke.DialOptions{ReadLimit: -1})
	big := strings.Repeat("y", (1 << 20))
	ws.SendText(big)
	expectText(t, ws, big)
	ws.SendText(big + "y")
	expectClose(t, ws, pistoke.CloseMessageTooBig)
}

func TestUnreadInputIsLogged(t *testing.T) {
	logs := &logRecorder{}
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /lazy/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		ws.SendText("ready")
		<-release
		return nil
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: slog.New(logs)}))
	ws := dialOK(t, base+"/lazy/", nil)
	expectText(t, ws, "ready")
	ws.SendText("ignored")
	close(release)
	expectClose(t, ws, pistoke.CloseNormal)
	// The server logs once its side of the close is done, which may be
	// after the client saw the close frame.
	if line := logs.wait(t, "pistoke: handler left input unread"); !strings.Contains(line, "messages=1") {
		t.Fatalf("log line %q", line)
	}
}

func TestJSONMessages(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /json/", pistoke.Protocol{Codec: pistoke.JSON{UseNumber: true}}.Wrap(pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		for {
			var v any
			if err := ws.ReceiveJSON(&v); err != nil {
				return err
			}
			if err := ws.SendJSON(map[string]any{"echo": v}); err != nil {
				return err
			}
		}
	})))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/json/", nil)
	ws.SendText(`{"price": 0.10, "tags": ["<a>"]}`)
	expectText(t, ws, `{"echo":{"price":0.10,"tags":["<a>"]}}`)
	ws.SendText(`{"unterminated": `)
	expectClose(t, ws, pistoke.CloseInvalidPayload)
}

func TestRawMode(t *testing.T) {
	type event struct {
		typ  pistoke.MessageType
		data string
		err  error
	}
	events := make(chan event, 4)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /raw/", pistoke.RawHandlerFunc(func(h *pistoke.Handshake) error {
		if h.Request().URL.Query().Get("deny") != "" {
			h.Deny(http.StatusPaymentRequired)
			return nil
		}
		offered := h.Subprotocols()
		ws, err := h.Accept(pistoke.Protocol{Subprotocols: offered[len(offered)-1:], Header: http.Header{"X-Raw": {"yes"}}})
		if err != nil {
			return err
		}
		for {
			typ, p, err := ws.Receive()
			events <- event{typ, string(p), err}
			if err != nil {
				return nil
			}
			ws.Send(typ, p)
		}
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	if got := dialStatus(t, base+"/raw/?deny=1", &pistoke.DialOptions{Subprotocols: []string{"a"}}); got != http.StatusPaymentRequired {
		t.Fatalf("deny: %d", got)
	}
	ws, resp, err := pistoke.Dial(context.Background(), base+"/raw/", &pistoke.DialOptions{Subprotocols: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Subprotocol() != "b" || resp.Header.Get("X-Raw") != "yes" {
		t.Fatalf("subprotocol %q, X-Raw %q", ws.Subprotocol(), resp.Header.Get("X-Raw"))
	}
	ws.SendBinary([]byte{1, 2})
	if typ, p, err := ws.Receive(); err != nil || typ != pistoke.Binary || string(p) != "\x01\x02" {
		t.Fatalf("echo: %v %v %v", typ, p, err)
	}
	ws.Close(4321, "done here")
	if ev := <-events; ev.err != nil || ev.typ != pistoke.Binary || ev.data != "\x01\x02" {
		t.Fatalf("first event %+v", ev)
	}
	var ce *pistoke.CloseError
	if ev := <-events; !errors.As(ev.err, &ce) || ce.Code != 4321 || ce.Reason != "done here" {
		t.Fatalf("second event %+v, want the disconnect with 4321", ev)
	}
}

type pageAndSocket struct{}

func (pageAndSocket) ServeHTTP(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") }
func (pageAndSocket) ServeWebsocket(ws *pistoke.Conn) error {
	for typ, msg := range ws.Messages() {
		if err := ws.Send(typ, append([]byte(`You wrote "`), append(msg, `".`...)...)); err != nil {
			return err
		}
	}
	return ws.Err()
}

func TestView(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/view/", pistoke.View(pageAndSocket{}))
	srv := httptest.NewServer(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/view/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "page" {
		t.Fatalf("GET: %q", body)
	}
	ws := dialOK(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/view/", nil)
	ws.SendText("hei")
	expectText(t, ws, `You wrote "hei".`)
	ws.SendBinary([]byte("bin"))
	if typ, p, err := ws.Receive(); err != nil || typ != pistoke.Binary || string(p) != `You wrote "bin".` {
		t.Fatalf("binary: %v %q %v", typ, p, err)
	}
}

func TestConcurrentSends(t *testing.T) {
	const senders, each = 8, 200
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /flood/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		var wg sync.WaitGroup
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := strings.Repeat(string(rune('a'+i)), 100+i)
				for range each {
					if err := ws.SendText(msg); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return nil
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/flood/", nil)
	counts := map[string]int{}
	for range senders * each {
		_, p, err := ws.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(p), string(p[0])) != len(p) {
			t.Fatalf("interleaved message %q", p)
		}
		counts[string(p)]++
	}
	if len(counts) != senders {
		t.Fatalf("got %d distinct messages, want %d", len(counts), senders)
	}
	expectClose(t, ws, pistoke.CloseNormal)
}

func TestSendRejectsInvalidUTF8(t *testing.T) {
	got := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /bad/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		got <- ws.Send(pistoke.Text, []byte{0xff})
		return nil
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/bad/", nil)
	if err := <-got; err == nil {
		t.Fatal("Send of invalid UTF-8 text succeeded")
	}
	expectClose(t, ws, pistoke.CloseNormal)
}

func TestHandlerReturnsWhileWatching(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /watch-and-go/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_ = ws.Context().Done() // a reader goroutine now owns the socket
		return ws.SendText("bye")
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	for range 20 {
		ws := dialOK(t, base+"/watch-and-go/", nil)
		expectText(t, ws, "bye")
		expectClose(t, ws, pistoke.CloseNormal)
	}
}

func TestContextCancelledWhenHandlerCloses(t *testing.T) {
	errs := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /self-close/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		ctx := ws.Context()
		if err := ws.Close(4000, "done"); err != nil {
			return err
		}
		<-ctx.Done()
		_, _, err := ws.Receive()
		errs <- err
		return nil
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	ws := dialOK(t, base+"/self-close/", nil)
	expectClose(t, ws, 4000)
	if err := <-errs; !errors.Is(err, pistoke.ErrClosed) {
		t.Fatalf("Receive after Close = %v, want ErrClosed", err)
	}
}

func TestMessageSurvivesWatcherStart(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /keep/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, first, err := ws.Receive()
		if err != nil {
			return err
		}
		_ = ws.Context().Done() // a reader goroutine takes over the socket
		_, second, err := ws.Receive()
		if err != nil {
			return err
		}
		// The reader has read the second message by now; the first must
		// still be what it was.
		if err := ws.Send(pistoke.Text, first); err != nil {
			return err
		}
		return ws.Send(pistoke.Text, second)
	}))
	base := serve(t, pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	for range 20 {
		ws := dialOK(t, base+"/keep/", nil)
		ws.SendText(strings.Repeat("a", 300))
		ws.SendText(strings.Repeat("b", 300))
		expectText(t, ws, strings.Repeat("a", 300))
		expectText(t, ws, strings.Repeat("b", 300))
		expectClose(t, ws, pistoke.CloseNormal)
	}
}
