package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
)

// member is a socket joined to a room.
type member struct {
	t  *testing.T
	id string
	ws *pistoke.Conn
}

// join connects id to room and waits until it has joined: the server
// joins before it reads, so the member's own message coming back proves
// that it receives the room's messages. Messages of the form "joined X"
// are such proofs; receive skips them.
func join(t *testing.T, s *server, room, id string) *member {
	t.Helper()
	ws, _, err := pistoke.Dial(ctx(t), "ws://"+s.addr+"/rooms/"+room+"?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close(pistoke.CloseNormal, "") })
	m := &member{t: t, id: id, ws: ws}
	if err := ws.SendText("joined " + id); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := m.next()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if msg == "joined "+id {
			return m
		}
	}
}

// next returns the next text message, whatever it is.
func (m *member) next() (string, error) {
	_ = m.ws.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
	typ, p, err := m.ws.Receive()
	if err != nil {
		return "", err
	}
	if typ != pistoke.Text {
		return "", fmt.Errorf("got a %v message, want text", typ)
	}
	return string(p), nil
}

// receive returns the next message that is not a proof of joining.
func (m *member) receive() (string, error) {
	for {
		msg, err := m.next()
		if err != nil || !strings.HasPrefix(msg, "joined ") {
			return msg, err
		}
	}
}

func presence(t *testing.T, s *server, room string) []string {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/rooms/" + room + "/presence")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("presence: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(resp.Body)
	var ids []string
	if err := json.Unmarshal(body, &ids); err != nil || ids == nil {
		t.Fatalf("presence body %q: want a JSON array of strings (%v)", body, err)
	}
	return ids
}

func post(t *testing.T, s *server, room, text string) {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+"/rooms/"+room, "text/plain; charset=utf-8", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST: %s, want 204", resp.Status)
	}
}

// sendConcurrently has every sender send msgs numbered messages at once
// and checks that every member receives each sender's messages in the
// order sent.
func sendConcurrently(t *testing.T, senders, members []*member, msgs int) {
	t.Helper()
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
				if n != strconv.Itoa(next[from]) {
					errs <- fmt.Errorf("%s: got %q, want %s %d", m.id, msg, from, next[from])
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
}

func TestMessagesReachEveryMemberInOrder(t *testing.T) {
	s := startServer(t)
	members := []*member{join(t, s, "r1", "ann"), join(t, s, "r1", "bob"), join(t, s, "r1", "cid")}
	other := join(t, s, "r2", "dan")

	// Two senders at once; each member sees each sender's messages in the
	// order sent, the senders included.
	sendConcurrently(t, members[:2], members, 100)

	// Unchanged, whatever the text; the other room hears nothing.
	text := "héllo, wörld ✓ {\"json\": true}"
	if err := members[2].ws.SendText(text); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if got, err := m.receive(); got != text {
			t.Errorf("%s: got %q (%v), want %q", m.id, got, err, text)
		}
	}
	post(t, s, "r2", "for r2")
	if got, err := other.receive(); got != "for r2" {
		t.Errorf("other room: got %q (%v), want only its own message", got, err)
	}
}

func TestPostReachesSockets(t *testing.T) {
	s := startServer(t)
	a, b := join(t, s, "news", "ann"), join(t, s, "news", "bob")
	for i := range 3 {
		post(t, s, "news", "bulletin "+strconv.Itoa(i))
	}
	post(t, s, "nobody-here", "lost")
	for _, m := range []*member{a, b} {
		for i := range 3 {
			if got, err := m.receive(); got != "bulletin "+strconv.Itoa(i) {
				t.Errorf("%s: got %q (%v), want bulletin %d", m.id, got, err, i)
			}
		}
	}
}

func TestPresence(t *testing.T) {
	s := startServer(t)
	if got := presence(t, s, "lobby"); len(got) != 0 {
		t.Errorf("empty room lists %q", got)
	}
	join(t, s, "lobby", "zoe")
	bob := join(t, s, "lobby", "bob")
	join(t, s, "lobby", "ann")
	join(t, s, "lobby", "ann") // a second tab: listed once
	join(t, s, "elsewhere", "eve")
	if got, want := presence(t, s, "lobby"), []string{"ann", "bob", "zoe"}; !slices.Equal(got, want) {
		t.Errorf("presence %q, want %q", got, want)
	}

	// Gone within 2 s of its socket closing.
	if err := bob.ws.Close(pistoke.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := presence(t, s, "lobby")
		if slices.Equal(got, []string{"ann", "zoe"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 s after bob's socket closed, presence is %q", got)
		}
		time.Sleep(20 * time.Millisecond) // polling the HTTP contract; the server offers no signal
	}
}

func TestOriginCheck(t *testing.T) {
	s := startServer(t, "-allowed-hosts", "friendly.example, .trusted.example")
	dial := func(origin string) error {
		h := http.Header{}
		h.Set("Origin", origin)
		ws, _, err := pistoke.Dial(ctx(t), "ws://"+s.addr+"/rooms/r?id=x", &pistoke.DialOptions{Header: h})
		if err == nil {
			ws.Close(pistoke.CloseNormal, "")
		}
		return err
	}
	for _, origin := range []string{"http://evil.example", "https://friendly.example.evil.example"} {
		var he *pistoke.HandshakeError
		if err := dial(origin); !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Errorf("origin %s: %v, want 403", origin, err)
		}
	}
	for _, origin := range []string{"http://" + s.addr, "https://friendly.example", "https://app.trusted.example"} {
		if err := dial(origin); err != nil {
			t.Errorf("origin %s: %v, want the socket to open", origin, err)
		}
	}
}

func TestBadRequests(t *testing.T) {
	s := startServer(t)
	var he *pistoke.HandshakeError
	if _, _, err := pistoke.Dial(ctx(t), "ws://"+s.addr+"/rooms/r", nil); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Errorf("socket without id: %v, want 400", err)
	}
	long := strings.Repeat("x", groups.MaxGroupBytes+1)
	for name, path := range map[string]string{
		"id too long":    "/rooms/r?id=" + long,
		"room too long":  "/rooms/" + long + "?id=ann",
		"id not UTF-8":   "/rooms/r?id=%FF",
		"room not UTF-8": "/rooms/%FF?id=ann",
	} {
		if _, _, err := pistoke.Dial(ctx(t), "ws://"+s.addr+path, nil); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
			t.Errorf("socket with %s: %v, want 400", name, err)
		}
	}
	for _, req := range []struct{ method, path string }{
		{"POST", "/rooms/" + long},
		{"GET", "/rooms/" + long + "/presence"},
	} {
		r, err := http.NewRequest(req.method, "http://"+s.addr+req.path, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s of a room too long: %s, want 400", req.method, req.path[:20], resp.Status)
		}
	}
	resp, err := http.Post("http://"+s.addr+"/rooms/r", "text/plain", strings.NewReader("\xff\xfe"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST of invalid UTF-8: %s, want 400", resp.Status)
	}
}

func TestSIGTERMDrains(t *testing.T) {
	s := startServer(t)
	m := join(t, s, "r", "ann")
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, err := m.receive()
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseGoingAway {
		t.Errorf("socket saw %v, want close 1001", err)
	}
	if err := s.Wait(t, stopTimeout); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-redis", "redis://127.0.0.1:1", "-nats", "nats://127.0.0.1:1"},
		{"-v", "loud"},
		{"-drain", "0s"},
		{"stray"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	cfg, err := parseFlags([]string{"-allowed-hosts", " a.example, ,b.example "})
	if err != nil || !slices.Equal(cfg.allowed, []string{"a.example", "b.example"}) {
		t.Errorf("allowed hosts %q (%v)", cfg.allowed, err)
	}
}
