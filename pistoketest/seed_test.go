package pistoketest_test

// These tests port the scenarios of the original django-pistoke test
// suite, one test per scenario, against handlers written the pistoke way.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistoketest"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func echo(ws *pistoke.Conn) error {
	for {
		typ, msg, err := ws.Receive()
		if err != nil {
			return err
		}
		if err := ws.Send(typ, msg); err != nil {
			return err
		}
	}
}

func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("role"); err != nil || c.Value != "admin" {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func seedApp() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	mux.Handle("WEBSOCKET /iter/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		for typ, msg := range ws.Messages() {
			if err := ws.Send(typ, msg); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	mux.Handle("WEBSOCKET /empty/", pistoke.HandlerFunc(func(*pistoke.Conn) error { return nil }))
	mux.Handle("WEBSOCKET /sub/", pistoke.Protocol{Subprotocols: []string{"yhta-suurempi", "yhta-pienempi"}}.Wrap(pistoke.HandlerFunc(
		func(ws *pistoke.Conn) error {
			step := 1
			if ws.Subprotocol() == "yhta-pienempi" {
				step = -1
			}
			_, msg, err := ws.Receive()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(msg))
			if err != nil {
				return err
			}
			return ws.SendText(strconv.Itoa(n + step))
		})))
	mux.Handle("WEBSOCKET /outer/", requireAdmin(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /inner/", pistoke.Protocol{}.Wrap(requireAdmin(pistoke.HandlerFunc(echo))))
	mux.Handle("WEBSOCKET /no-protocol/", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	mux.Handle("WEBSOCKET /nested/", pistoke.Protocol{}.Wrap(pistoke.Protocol{}.Wrap(pistoke.HandlerFunc(echo))))
	mux.Handle("WEBSOCKET /fails/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if _, _, err := ws.Receive(); err != nil {
			return err
		}
		if err := ws.SendText("about to fail"); err != nil {
			return err
		}
		return errSeed
	}))
	mux.Handle("WEBSOCKET /exempt/", pistoke.OriginExempt(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /csrf/", pistoke.CSRFHandshake{}.Wrap(echo))
	mux.Handle("WEBSOCKET /csrf-json/", pistoke.CSRFHandshake{Key: "token", ErrorKey: "error"}.Wrap(echo))
	mux.HandleFunc("GET /token/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, pistoke.CSRFToken(r)) })
	mux.Handle("/view/", pistoke.View(arithView{}))
	return pistoke.Handler(pistoke.CSRF(pistoke.CSRFOptions{})(mux), pistoke.Options{
		AllowedHosts: []string{"testserver", "sallittu-lahde"},
		Logger:       quietLogger(),
	})
}

var errSeed = errors.New("the view failed on purpose")

// arithView is the seed's combined example: a class view with
// subprotocols summa/erotus, JSON messages with exact decimals and a CSRF
// handshake under the key csrfmiddlewaretoken.
type arithView struct{}

func (arithView) ServeHTTP(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "arith page") }

func (arithView) WebsocketProtocol() pistoke.Protocol {
	return pistoke.Protocol{Subprotocols: []string{"summa", "erotus"}, Codec: pistoke.JSON{UseNumber: true}}
}

func (arithView) ServeWebsocket(ws *pistoke.Conn) error {
	return pistoke.CSRFHandshake{Key: "csrfmiddlewaretoken", ErrorKey: "virhe"}.Wrap(func(ws *pistoke.Conn) error {
		var a, b json.Number
		if err := ws.ReceiveJSON(&a); err != nil {
			return err
		}
		if err := ws.ReceiveJSON(&b); err != nil {
			return err
		}
		x, _ := new(big.Rat).SetString(a.String())
		y, _ := new(big.Rat).SetString(b.String())
		if ws.Subprotocol() == "erotus" {
			x.Sub(x, y)
		} else {
			x.Add(x, y)
		}
		return ws.SendJSON(json.Number(x.FloatString(1)))
	})(ws)
}

func newClient(t *testing.T) *pistoketest.Client {
	t.Helper()
	c := pistoketest.NewClient(seedApp())
	t.Cleanup(c.Close)
	return c
}

func dial(t *testing.T, c *pistoketest.Client, path string, opts *pistoketest.DialOptions) *pistoketest.Conn {
	t.Helper()
	ws, err := c.Dial(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", path, err)
	}
	return ws
}

func roundTrip(t *testing.T, ws *pistoketest.Conn, msg string) {
	t.Helper()
	if err := ws.SendText(msg); err != nil {
		t.Fatal(err)
	}
	got, err := ws.ReceiveText()
	if err != nil {
		t.Fatal(err)
	}
	if got != msg {
		t.Fatalf("got %q, want %q", got, msg)
	}
}

func refusedStatus(t *testing.T, err error) int {
	t.Helper()
	var re *pistoketest.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *RefusedError", err)
	}
	return re.Status
}

func TestSeedEcho(t *testing.T) {
	c := newClient(t)
	for _, path := range []string{"/echo/", "/iter/"} {
		ws := dial(t, c, path, nil)
		roundTrip(t, ws, "data")
		if err := ws.SendBinary([]byte{0, 1, 2}); err != nil {
			t.Fatal(err)
		}
		typ, got, err := ws.Receive()
		if err != nil || typ != pistoke.Binary || string(got) != "\x00\x01\x02" {
			t.Fatalf("%s binary echo: %v %q %v", path, typ, got, err)
		}
		if err := ws.Close(); err != nil {
			t.Fatalf("%s Close: %v", path, err)
		}
	}
}

func TestSeedEmptyViewClosesCleanly(t *testing.T) {
	ws := dial(t, newClient(t), "/empty/", nil)
	code, _, err := ws.CloseCode()
	if err != nil || code != pistoke.CloseNormal {
		t.Fatalf("CloseCode = %d, %v; want 1000", code, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestSeedEmptyViewWithInputReportsInputNotRead(t *testing.T) {
	c := newClient(t)
	// Dial and send before the handler can finish: the message may reach
	// the server before or after the handler returned, so hold the
	// handler until the message is queued, through a handler of our own.
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /wait/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		select { // looking at the context sends the 101
		case <-release:
		case <-ws.Context().Done():
		}
		return nil
	}))
	c.Handler = pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()})
	ws := dial(t, c, "/wait/", nil)
	if err := ws.SendText("never read"); err != nil {
		t.Fatal(err)
	}
	close(release)
	err := ws.Close()
	if !errors.Is(err, pistoketest.ErrInputNotRead) {
		t.Fatalf("Close = %v, want ErrInputNotRead", err)
	}
}

func TestSeedSubprotocols(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct {
		offer []string
		want  string
		reply string
	}{
		{[]string{"yhta-suurempi"}, "yhta-suurempi", "43"},
		{[]string{"yhta-pienempi"}, "yhta-pienempi", "41"},
		{[]string{"yhtasuuri", "yhta-pienempi", "yhta-suurempi"}, "yhta-pienempi", "41"},
	} {
		ws := dial(t, c, "/sub/", &pistoketest.DialOptions{Subprotocols: tc.offer})
		if ws.Subprotocol() != tc.want {
			t.Errorf("offer %v: chose %q, want %q", tc.offer, ws.Subprotocol(), tc.want)
		}
		if err := ws.SendText("42"); err != nil {
			t.Fatal(err)
		}
		got, err := ws.ReceiveText()
		if err != nil || got != tc.reply {
			t.Errorf("offer %v: got %q, %v; want %q", tc.offer, got, err, tc.reply)
		}
		if err := ws.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	for _, offer := range [][]string{nil, {"yhtasuuri"}} {
		_, err := c.Dial(context.Background(), "/sub/", &pistoketest.DialOptions{Subprotocols: offer})
		if got := refusedStatus(t, err); got != http.StatusForbidden {
			t.Errorf("offer %v: status %d, want 403", offer, got)
		}
	}
}

func TestSeedPermissionOutsideProtocolIsHTTP403(t *testing.T) {
	c := newClient(t)
	_, err := c.Dial(context.Background(), "/outer/", nil)
	if got := refusedStatus(t, err); got != http.StatusForbidden {
		t.Fatalf("status %d, want 403", got)
	}
	ws := dial(t, c, "/outer/", &pistoketest.DialOptions{Header: http.Header{"Cookie": {"role=admin"}}})
	roundTrip(t, ws, "admin")
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedPermissionInsideProtocolOpensThenCloses(t *testing.T) {
	c := newClient(t)
	ws := dial(t, c, "/inner/", nil)
	code, reason, err := ws.CloseCode()
	if err != nil || code != 4403 || reason != "Forbidden" {
		t.Fatalf("CloseCode = %d %q %v; want 4403 Forbidden", code, reason, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	ws = dial(t, c, "/inner/", &pistoketest.DialOptions{Header: http.Header{"Cookie": {"role=admin"}}})
	roundTrip(t, ws, "admin")
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedUnknownPath(t *testing.T) {
	// The original answers 403; pistoke lets the router speak, and
	// ServeMux says 404.
	_, err := newClient(t).Dial(context.Background(), "/no/such/path/", nil)
	if got := refusedStatus(t, err); got != http.StatusNotFound {
		t.Fatalf("status %d, want 404", got)
	}
}

func TestSeedViewWithoutUsableProtocolFailsHandshake(t *testing.T) {
	c := newClient(t)
	_, err := c.Dial(context.Background(), "/no-protocol/", nil)
	if got := refusedStatus(t, err); got != http.StatusForbidden {
		t.Errorf("handler that never upgrades: status %d, want 403", got)
	}
	_, err = c.Dial(context.Background(), "/nested/", nil)
	if got := refusedStatus(t, err); got != http.StatusInternalServerError {
		t.Errorf("nested protocols: status %d, want 500", got)
	}
	if !errors.Is(err, pistoke.ErrNestedProtocol) {
		t.Errorf("nested protocols: %v does not match ErrNestedProtocol", err)
	}
}

func TestSeedViewErrorSurfacesAfterExchange(t *testing.T) {
	ws := dial(t, newClient(t), "/fails/", nil)
	if err := ws.SendText("go"); err != nil {
		t.Fatal(err)
	}
	if got, err := ws.ReceiveText(); err != nil || got != "about to fail" {
		t.Fatalf("got %q, %v", got, err)
	}
	code, _, err := ws.CloseCode()
	if err != nil || code != pistoke.CloseInternalError {
		t.Fatalf("CloseCode = %d, %v; want 1011", code, err)
	}
	err = ws.Close()
	var he *pistoketest.HandlerError
	if !errors.As(err, &he) || !errors.Is(err, errSeed) {
		t.Fatalf("Close = %v, want a HandlerError wrapping errSeed", err)
	}
}

func TestSeedOrigin(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct {
		path, origin string
		ok           bool
	}{
		{"/echo/", "", true},
		{"/echo/", "http://paha-lahde", false},
		{"/echo/", "http://sallittu-lahde", true},
		{"/echo/", "https://testserver", true},
		{"/exempt/", "http://paha-lahde", true},
	} {
		ws, err := c.Dial(context.Background(), tc.path, &pistoketest.DialOptions{Origin: tc.origin})
		if !tc.ok {
			if got := refusedStatus(t, err); got != http.StatusForbidden {
				t.Errorf("%s from %q: status %d, want 403", tc.path, tc.origin, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s from %q: %v", tc.path, tc.origin, err)
			continue
		}
		roundTrip(t, ws, "hello")
		if err := ws.Close(); err != nil {
			t.Error(err)
		}
	}
}

func csrfClient(t *testing.T) (*pistoketest.Client, string) {
	t.Helper()
	c := newClient(t)
	c.EnforceCSRF = true
	resp, err := c.Get("/token/")
	if err != nil {
		t.Fatal(err)
	}
	token, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(token) == 0 {
		t.Fatal("no CSRF token issued")
	}
	return c, string(token)
}

func TestSeedCSRFHandshake(t *testing.T) {
	c, token := csrfClient(t)
	for _, bad := range []string{"", "wrong", token[:len(token)-2] + "AA"} {
		ws := dial(t, c, "/csrf/", nil)
		if err := ws.SendText(bad); err != nil {
			t.Fatal(err)
		}
		got, err := ws.ReceiveText()
		if err != nil || got != "CSRF token missing or invalid" {
			t.Errorf("token %q: got %q, %v", bad, got, err)
		}
		if code, _, err := ws.CloseCode(); err != nil || code != pistoke.CloseNormal {
			t.Errorf("token %q: close %d, %v; want 1000", bad, code, err)
		}
		if err := ws.Close(); err != nil {
			t.Error(err)
		}
	}
	ws := dial(t, c, "/csrf/", nil)
	if err := ws.SendText(token); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, ws, "after the token")
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedCSRFHandshakeJSONKeys(t *testing.T) {
	c, token := csrfClient(t)
	ws := dial(t, c, "/csrf-json/", nil)
	if err := ws.SendJSON(map[string]string{"token": "wrong"}); err != nil {
		t.Fatal(err)
	}
	var reply map[string]string
	if err := ws.ReceiveJSON(&reply); err != nil || reply["error"] != "CSRF token missing or invalid" {
		t.Fatalf("reply %v, %v", reply, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	ws = dial(t, c, "/csrf-json/", nil)
	if err := ws.SendJSON(map[string]string{"token": token}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, ws, "in")
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedCSRFSkippedUnlessEnforced(t *testing.T) {
	ws := dial(t, newClient(t), "/csrf/", nil)
	if err := ws.SendText("anything"); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, ws, "accepted without a real token")
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedArithmeticView(t *testing.T) {
	c, token := csrfClient(t)
	for _, tc := range []struct {
		proto, a, b, want string
	}{
		{"summa", "0.1", "0.2", "0.3"},
		{"erotus", "1", "0.3", "0.7"},
	} {
		ws := dial(t, c, "/view/", &pistoketest.DialOptions{Subprotocols: []string{tc.proto}})
		if err := ws.SendJSON(map[string]string{"csrfmiddlewaretoken": token}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{tc.a, tc.b} {
			if err := ws.SendJSON(json.Number(n)); err != nil {
				t.Fatal(err)
			}
		}
		var got json.Number
		if err := ws.ReceiveJSON(&got); err != nil || got.String() != tc.want {
			t.Errorf("%s %s %s = %v, %v; want %s", tc.proto, tc.a, tc.b, got, err, tc.want)
		}
		if err := ws.Close(); err != nil {
			t.Error(err)
		}
	}
	ws := dial(t, c, "/view/", &pistoketest.DialOptions{Subprotocols: []string{"summa"}})
	if err := ws.SendJSON(map[string]string{"csrfmiddlewaretoken": "wrong"}); err != nil {
		t.Fatal(err)
	}
	var reply map[string]string
	if err := ws.ReceiveJSON(&reply); err != nil || reply["virhe"] == "" {
		t.Fatalf("bad token reply %v, %v", reply, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedHTTPGetStillServed(t *testing.T) {
	resp, err := newClient(t).Get("/view/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "arith page" {
		t.Fatalf("GET /view/ = %d %q", resp.StatusCode, body)
	}
}
