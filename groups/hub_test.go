package groups_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
)

func TestFanOutEncodesOnce(t *testing.T) {
	s := newTestServer(t, nil)
	const members, msgs = 40, 25
	clients := make([]*grouptest.Client, members)
	for i := range clients {
		clients[i] = s.Dial(t, "news", "c"+strconv.Itoa(i), nil)
	}
	ctx := context.Background()
	before := groups.PreparedCount(s.Hub)
	for i := range msgs {
		if err := s.Hub.PublishText(ctx, "news", "m"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		for j := range msgs {
			if got, want := c.Receive(), "m"+strconv.Itoa(j); got != want {
				t.Fatalf("client %d: message %d is %q, want %q", i, j, got, want)
			}
		}
	}
	if n := groups.PreparedCount(s.Hub) - before; n != msgs {
		t.Errorf("%d messages encoded for %d members, want %d: one per message", n, members, msgs)
	}
}

func TestOrderPerPublisher(t *testing.T) {
	const publishers, listeners, msgs = 4, 3, 150
	// The test is about order, not loss: every queue can hold every
	// message, so that a member whose writer the system holds up while
	// the others go on (a loaded machine) falls behind without losing
	// any. A publisher also waits for its own messages to come back every
	// window messages, so the sockets are written while it publishes.
	s := newTestServer(t, &groups.Options{QueueSize: publishers * msgs})
	const window = 25
	var all []*grouptest.Client
	for i := range publishers + listeners {
		all = append(all, s.Dial(t, "order", "c"+strconv.Itoa(i), nil))
	}
	echoed := make([]chan int, publishers)
	for p := range echoed {
		echoed[p] = make(chan int, msgs)
	}
	// Every client, publishers included, reads everything while the
	// publishers send, concurrently.
	var wg sync.WaitGroup
	errs := make(chan error, len(all)+publishers)
	for i, c := range all {
		wg.Go(func() {
			if i < publishers {
				defer close(echoed[i])
			}
			next := make([]int, publishers)
			for range publishers * msgs {
				m, err := c.TryReceive()
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				var p, n int
				if _, err := fmt.Sscanf(m, "%d:%d", &p, &n); err != nil || p >= publishers {
					errs <- fmt.Errorf("client %d: unexpected message %q", i, m)
					return
				}
				if n != next[p] {
					errs <- fmt.Errorf("client %d: from publisher %d got %d, want %d", i, p, n, next[p])
					return
				}
				next[p]++
				if p == i {
					echoed[i] <- n
				}
			}
		})
	}
	for p := range publishers {
		wg.Go(func() {
			for n := range msgs {
				if err := all[p].Conn.SendText(fmt.Sprintf("%d:%d", p, n)); err != nil {
					errs <- err
					return
				}
				if n%window == window-1 {
					for e := range echoed[p] {
						if e == n {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := s.Hub.Dropped(); d != 0 {
		t.Errorf("%d messages dropped", d)
	}
}

// slowConsumer publishes to a group with two reading members and one
// that never reads until the hub has given up on it, waiting after each
// message for the readers to receive it. It returns what it published.
func slowConsumer(t *testing.T, s *grouptest.Server, slow *grouptest.Client, fast []*grouptest.Client) int {
	t.Helper()
	ctx := context.Background()
	payload := strings.Repeat("x", 32<<10)
	m := s.Membership("slow")
	n := 0
	// The slow client's buffers fill, then its queue; from then on the
	// hub drops. Ten more messages make sure of it.
	for extra := 0; extra < 10; n++ {
		if n == 100_000 {
			t.Fatal("the hub never gave up on a client that does not read")
		}
		if err := s.Hub.PublishText(ctx, "g", strconv.Itoa(n)+" "+payload); err != nil {
			t.Fatal(err)
		}
		for _, c := range fast {
			got, _, _ := strings.Cut(c.Receive(), " ")
			if got != strconv.Itoa(n) {
				t.Fatalf("fast member got message %s, want %d", got, n)
			}
		}
		if m.Dropped() > 0 {
			extra++
		}
	}
	return n
}

func TestSlowConsumerDropOldest(t *testing.T) {
	logs := newLogCounter()
	s := newTestServer(t, &groups.Options{QueueSize: 8, Logger: slog.New(logs)})
	slow := s.Dial(t, "g", "slow", nil)
	fast := []*grouptest.Client{s.Dial(t, "g", "fast1", nil), s.Dial(t, "g", "fast2", nil)}
	start := time.Now()
	n := slowConsumer(t, s, slow, fast)
	elapsed := time.Since(start)

	// Ten drops or more, logged once a second at most.
	const logMsg = "groups: slow member, dropping its oldest messages"
	if c := logs.count(logMsg); c < 1 || c > 1+int(elapsed/time.Second) {
		t.Errorf("%d warnings logged in %v", c, elapsed)
	}

	m := s.Membership("slow")
	if m.Dropped() == 0 || s.Hub.Dropped() != m.Dropped() {
		t.Errorf("slow member dropped %d, hub %d: want the same, not 0", m.Dropped(), s.Hub.Dropped())
	}
	for _, id := range []string{"fast1", "fast2"} {
		if d := s.Membership(id).Dropped(); d != 0 {
			t.Errorf("%s dropped %d messages", id, d)
		}
	}
	// The slow client is still connected, and gets the newest messages:
	// what it missed is a gap, in order, ending with the last message.
	last, got := -1, 0
	for last != n-1 {
		msg, _, _ := strings.Cut(slow.Receive(), " ")
		i, err := strconv.Atoi(msg)
		if err != nil || i <= last {
			t.Fatalf("slow member got %q after %d", msg, last)
		}
		last = i
		got++
	}
	if int64(got)+m.Dropped() != int64(n) {
		t.Errorf("slow member received %d and lost %d of %d messages", got, m.Dropped(), n)
	}
}

func TestSlowConsumerDisconnect(t *testing.T) {
	s := newTestServer(t, &groups.Options{QueueSize: 4, Policy: groups.Disconnect})
	slow := s.Dial(t, "g", "slow", nil)
	fast := []*grouptest.Client{s.Dial(t, "g", "fast1", nil), s.Dial(t, "g", "fast2", nil)}
	slowConsumer(t, s, slow, fast)

	// The same close as a Conn that drops a slow consumer.
	if ce, _ := slow.WaitClose(); ce.Code != pistoke.ClosePolicyViolation || ce.Reason != "slow consumer" {
		t.Errorf("slow member closed with %d %q, want %d %q", ce.Code, ce.Reason, pistoke.ClosePolicyViolation, "slow consumer")
	}
	if s.Hub.Dropped() != s.Membership("slow").Dropped() {
		t.Errorf("hub dropped %d, slow member %d", s.Hub.Dropped(), s.Membership("slow").Dropped())
	}
	// The others carry on.
	if err := s.Hub.PublishText(context.Background(), "g", "after"); err != nil {
		t.Fatal(err)
	}
	for _, c := range fast {
		if got := c.Receive(); got != "after" {
			t.Errorf("fast member got %q, want \"after\"", got)
		}
	}
}

func TestPresenceAndLeaveOnClose(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	sub, err := s.Hub.Subscribe(ctx, "room", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// Joined in an order the list does not keep: it is sorted by id.
	bob := s.Dial(t, "room", "bob", present)
	ann1 := s.Dial(t, "room", "ann", present)
	s.Dial(t, "room", "ann", present) // a second tab
	s.Dial(t, "room", "nobody", nil)  // a member without presence
	for _, want := range []string{"bob", "ann", "ann"} {
		if ev := nextEvent(t, sub); ev.Kind != groups.Joined || ev.Member.ID != want || ev.Group != "room" {
			t.Fatalf("event %v %q in %q, want Joined %q", ev.Kind, ev.Member.ID, ev.Group, want)
		}
	}
	checkPresence(t, s.Hub, "room", "ann", "bob")

	bob.Conn.Close(pistoke.CloseNormal, "")
	if ev := nextEvent(t, sub); ev.Kind != groups.Left || ev.Member.ID != "bob" {
		t.Fatalf("event %v %q, want Left bob", ev.Kind, ev.Member.ID)
	}
	checkPresence(t, s.Hub, "room", "ann")

	// ann stays while one of her sockets does.
	ann1.Conn.Close(pistoke.CloseNormal, "")
	if ev := nextEvent(t, sub); ev.Kind != groups.Left || ev.Member.ID != "ann" {
		t.Fatalf("event %v %q, want Left ann", ev.Kind, ev.Member.ID)
	}
	checkPresence(t, s.Hub, "room", "ann")
	if n := groups.MemberCount(s.Hub, "room"); n != 2 {
		t.Errorf("%d local members left, want 2", n)
	}
}

func checkPresence(t *testing.T, hub *groups.Hub, group string, want ...string) {
	t.Helper()
	list, err := hub.Presence(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list {
		ids = append(ids, m.ID)
		if m.Meta["via"] != "test" {
			t.Errorf("member %q has meta %v", m.ID, m.Meta)
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("presence of %q is %q, want %q", group, ids, want)
	}
}

func TestLeave(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	sub, err := s.Hub.Subscribe(ctx, "room", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	c := s.Dial(t, "room", "ann", present)
	nextEvent(t, sub) // Joined

	m := s.Membership("ann")
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := m.Leave(); err != nil {
		t.Errorf("second Leave: %v", err)
	}
	if ev := nextEvent(t, sub); ev.Kind != groups.Left || ev.Member.ID != "ann" {
		t.Fatalf("event %v %q, want Left ann", ev.Kind, ev.Member.ID)
	}
	checkPresence(t, s.Hub, "room")
	if n := groups.MemberCount(s.Hub, "room"); n != 0 {
		t.Errorf("%d local members after Leave, want 0", n)
	}
	// The socket no longer receives the group's messages, but can still
	// publish to it.
	if err := c.Conn.SendText("still here"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, sub); ev.Kind != groups.Message || string(ev.Data) != "still here" {
		t.Fatalf("event %v %q, want the message", ev.Kind, ev.Data)
	}
}

func TestSubscribeEvents(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	sub, err := s.Hub.Subscribe(ctx, "room", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Dial(t, "room", "ann", present)
	if err := s.Hub.PublishJSON(ctx, "room", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Hub.Publish(ctx, "room", pistoke.Binary, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Hub.PublishText(ctx, "elsewhere", "not for us"); err != nil {
		t.Fatal(err)
	}
	c.Conn.Close(pistoke.CloseNormal, "")

	want := []struct {
		kind groups.EventKind
		typ  pistoke.MessageType
		data string
	}{
		{groups.Joined, 0, ""},
		{groups.Message, pistoke.Text, `{"a":1}`},
		{groups.Message, pistoke.Binary, "\x00\x01\x02"},
		{groups.Left, 0, ""},
	}
	for i, w := range want {
		ev := nextEvent(t, sub)
		if ev.Kind != w.kind || ev.Type != w.typ || string(ev.Data) != w.data || ev.Group != "room" {
			t.Fatalf("event %d: %v %v %q in %q, want %v %v %q", i, ev.Kind, ev.Type, ev.Data, ev.Group, w.kind, w.typ, w.data)
		}
		if (w.kind == groups.Joined || w.kind == groups.Left) && ev.Member.ID != "ann" {
			t.Errorf("event %d: member %q, want ann", i, ev.Member.ID)
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.C(); ok {
		t.Error("channel still open after Close")
	}
}

func TestSubscriptionDropsOldest(t *testing.T) {
	hub, err := groups.New(context.Background(), nil, &groups.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	sub, err := hub.Subscribe(ctx, "g", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 5 {
		if err := hub.PublishText(ctx, "g", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"3", "4"} {
		if ev := nextEvent(t, sub); string(ev.Data) != want {
			t.Errorf("got %q, want %q", ev.Data, want)
		}
	}
	if sub.Dropped() != 3 || hub.Dropped() != 3 {
		t.Errorf("dropped %d (hub %d), want 3", sub.Dropped(), hub.Dropped())
	}
}

func TestClosedHub(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	sub, err := s.Hub.Subscribe(ctx, "g", 1)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Dial(t, "g", "ann", present)
	if err := s.Hub.Close(); err != nil {
		t.Fatal(err)
	}
	for ev := range sub.C() {
		if ev.Kind != groups.Joined {
			t.Errorf("unexpected %v event", ev.Kind)
		}
	}
	if err := sub.Close(); err != nil {
		t.Errorf("Subscription.Close after Hub.Close: %v", err)
	}
	for name, err := range map[string]error{
		"Publish":   s.Hub.PublishText(ctx, "g", "x"),
		"Close":     s.Hub.Close(),
		"Presence":  second(s.Hub.Presence(ctx, "g")),
		"Subscribe": second(s.Hub.Subscribe(ctx, "g", 1)),
		"Leave":     s.Membership("ann").Leave(),
	} {
		if name == "Leave" {
			if err != nil {
				t.Errorf("Leave after Close: %v", err)
			}
			continue
		}
		if !errors.Is(err, groups.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	// The socket stays open; a new one cannot join.
	if err := c.Conn.SendText("x"); err != nil {
		t.Errorf("socket closed with the hub: %v", err)
	}
	var ce *pistoke.CloseError
	if _, err := s.TryDial(t, "g", "late", nil); !errors.As(err, &ce) || ce.Code != pistoke.CloseInternalError {
		t.Errorf("join after Close: %v, want the handler to close with %d", err, pistoke.CloseInternalError)
	}
}

func second[T any](_ T, err error) error { return err }

func TestInvalidArguments(t *testing.T) {
	hub, err := groups.New(context.Background(), nil, &groups.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	if err := hub.Publish(ctx, "g", pistoke.Text, []byte{0xff}); !errors.Is(err, groups.ErrInvalidMessage) {
		t.Errorf("invalid UTF-8: %v, want ErrInvalidMessage", err)
	}
	if err := hub.Publish(ctx, "g", pistoke.MessageType(9), nil); !errors.Is(err, groups.ErrInvalidMessage) {
		t.Errorf("bad type: %v, want ErrInvalidMessage", err)
	}
	if err := hub.PublishText(ctx, "", "x"); !errors.Is(err, groups.ErrInvalidGroup) {
		t.Errorf("empty group: %v, want ErrInvalidGroup", err)
	}
	if err := hub.PublishJSON(ctx, "g", func() {}); err == nil {
		t.Error("PublishJSON of a func succeeded")
	}
	if _, err := groups.New(ctx, nil, &groups.Options{QueueSize: -1}); err == nil {
		t.Error("negative QueueSize accepted")
	}
	if _, err := groups.New(ctx, nil, &groups.Options{Policy: 7}); err == nil {
		t.Error("unknown policy accepted")
	}
}

// countingBackend counts the subscriptions a hub asks of its backend.
type countingBackend struct {
	groups.Backend
	mu           sync.Mutex
	subscribed   map[string]int
	subs, unsubs int
}

func (b *countingBackend) Subscribe(ctx context.Context, group string) error {
	b.mu.Lock()
	b.subscribed[group]++
	b.subs++
	b.mu.Unlock()
	return b.Backend.Subscribe(ctx, group)
}

func (b *countingBackend) Unsubscribe(ctx context.Context, group string) error {
	b.mu.Lock()
	b.subscribed[group]--
	b.unsubs++
	b.mu.Unlock()
	return b.Backend.Unsubscribe(ctx, group)
}

func TestBackendSubscribedOncePerGroup(t *testing.T) {
	b := &countingBackend{Backend: groups.NewLocal(), subscribed: make(map[string]int)}
	s := newTestServerOn(t, b, nil)
	ctx := context.Background()
	sub, err := s.Hub.Subscribe(ctx, "g", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Dial(t, "g", "a", nil)
	c := s.Dial(t, "g", "b", nil)
	for _, m := range []*groups.Membership{s.Membership("a"), s.Membership("b")} {
		if err := m.Leave(); err != nil {
			t.Fatal(err)
		}
	}
	sub.Close()
	// Join again after the group emptied: subscribed anew.
	a.Conn.Close(pistoke.CloseNormal, "")
	c.Conn.Close(pistoke.CloseNormal, "")
	s.Dial(t, "g", "again", nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs != 2 || b.unsubs != 1 || b.subscribed["g"] != 1 {
		t.Errorf("%d subscribes, %d unsubscribes, net %d: want 2, 1, 1", b.subs, b.unsubs, b.subscribed["g"])
	}
}
