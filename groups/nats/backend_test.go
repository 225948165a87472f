package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/testservers"
)

// waitTimeout bounds every wait of these tests for something that
// happens at once on an idle machine.
const waitTimeout = 15 * time.Second

// recorder is a deliver callback that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	msgs   map[string][]string
	notify chan struct{}
}

func newRecorder() *recorder {
	return &recorder{msgs: make(map[string][]string), notify: make(chan struct{}, 1)}
}

func (r *recorder) deliver(group string, msg []byte) {
	r.mu.Lock()
	r.msgs[group] = append(r.msgs[group], string(msg))
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// got returns a copy of what group received so far.
func (r *recorder) got(group string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs[group]...)
}

// waitFor waits until cond holds for what group received, and returns it.
func (r *recorder) waitFor(t *testing.T, group string, cond func([]string) bool) []string {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		if got := r.got(group); cond(got) {
			return got
		}
		select {
		case <-r.notify:
		case <-timer.C:
			got := r.got(group)
			t.Fatalf("group %q: condition not met within %v; received %d messages: %.300q", group, waitTimeout, len(got), got)
			return nil
		}
	}
}

// waitLen waits until group received at least n messages.
func (r *recorder) waitLen(t *testing.T, group string, n int) []string {
	t.Helper()
	return r.waitFor(t, group, func(got []string) bool { return len(got) >= n })
}

// openBackend creates and opens a backend with deliver, closed when the
// test ends.
func openBackend(t *testing.T, opts Options, deliver func(string, []byte)) groups.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if deliver == nil {
		deliver = func(string, []byte) {}
	}
	if err := b.Open(ctx, deliver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// eventually polls cond until it holds, failing the test after
// waitTimeout. For states that announce themselves with no signal a test
// can wait on: a server gone, a node forgotten.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestNewChecksOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no URL", Options{}, "URL is required"},
		{"wildcard prefix", Options{URL: "nats://127.0.0.1:1", Prefix: "app.*"}, "not a literal subject"},
		{"empty token", Options{URL: "nats://127.0.0.1:1", Prefix: "app..x"}, "not a literal subject"},
		{"space", Options{URL: "nats://127.0.0.1:1", Prefix: "my app"}, "not a literal subject"},
		{"TTL", Options{URL: "nats://127.0.0.1:1", PresenceTTL: time.Millisecond}, "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(ctx, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want an error containing %q", tc.opts, err, tc.want)
			}
		})
	}
	b, err := New(ctx, Options{URL: "nats://127.0.0.1:1", Prefix: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(*backend).subj.group("x"); got != "app.g.x" {
		t.Errorf("prefix without a final dot: group subject %q, want app.g.x", got)
	}
}

// An unreachable server is reported by Open, which groups.New calls,
// with the URL and without its password.
func TestOpenUnreachable(t *testing.T) {
	port := testservers.FreePort(t)
	url := fmt.Sprintf("nats://app:s3cret@127.0.0.1:%d", port)
	b, err := New(context.Background(), Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	_, err = groups.New(ctxT(t), b, nil)
	if err == nil {
		t.Fatal("groups.New over an unreachable server succeeded")
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("error %q is not ErrUnreachable", err)
	}
	want := fmt.Sprintf("127.0.0.1:%d", port)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
	if err := b.Publish(context.Background(), "g", []byte("x")); err == nil {
		t.Error("Publish on a backend that failed to open succeeded")
	}
}

// Messages one node publishes reach every subscribed node, itself
// included, in the order it published them.
func TestPublishOrder(t *testing.T) {
	srv := testservers.StartNATS(t)
	ra, rb := newRecorder(), newRecorder()
	a := openBackend(t, Options{URL: srv.URL()}, ra.deliver)
	b := openBackend(t, Options{URL: srv.URL()}, rb.deliver)
	worker := openBackend(t, Options{URL: srv.URL()}, nil) // subscribes to nothing
	ctx := ctxT(t)
	for _, be := range []groups.Backend{a, b} {
		if err := be.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	const n = 2000
	var want []string
	for i := range n {
		msg := fmt.Sprintf("m%d", i)
		want = append(want, msg)
		if err := a.Publish(ctx, "room", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if err := worker.Publish(ctx, "room", []byte("from the worker")); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*recorder{"publisher": ra, "other node": rb} {
		got := r.waitLen(t, "room", n+1)
		// Nothing orders the worker's message against a's.
		i := slices.Index(got, "from the worker")
		if i < 0 {
			t.Fatalf("%s did not receive the worker's message", name)
		}
		got = slices.Delete(got, i, i+1)
		if !equal(got, want) {
			t.Errorf("%s received a's messages out of order or altered: first difference at %d", name, firstDiff(got, want))
		}
	}
}

func equal(a, b []string) bool { return firstDiff(a, b) < 0 }

func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// Several publishers at once: each one's messages arrive in its order.
func TestConcurrentPublishersOrder(t *testing.T) {
	srv := testservers.StartNATS(t)
	r := newRecorder()
	sub := openBackend(t, Options{URL: srv.URL()}, r.deliver)
	ctx := ctxT(t)
	if err := sub.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	const publishers, n = 3, 500
	pubs := make([]groups.Backend, publishers)
	for i := range pubs {
		pubs[i] = openBackend(t, Options{URL: srv.URL()}, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p, b := range pubs {
		wg.Go(func() {
			for i := range n {
				if err := b.Publish(ctx, "room", fmt.Appendf(nil, "%d:%d", p, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := r.waitLen(t, "room", publishers*n)
	next := make([]int, publishers)
	for _, m := range got {
		var p, i int
		if _, err := fmt.Sscanf(m, "%d:%d", &p, &i); err != nil {
			t.Fatalf("unexpected message %q", m)
		}
		if i != next[p] {
			t.Fatalf("publisher %d: message %d arrived when %d was expected", p, i, next[p])
		}
		next[p]++
	}
	if len(got) != publishers*n {
		t.Errorf("received %d messages, want %d", len(got), publishers*n)
	}
}

// After Unsubscribe a node receives nothing more of the group, and other
// groups go on.
func TestUnsubscribe(t *testing.T) {
	srv := testservers.StartNATS(t)
	r := newRecorder()
	a := openBackend(t, Options{URL: srv.URL()}, nil)
	b := openBackend(t, Options{URL: srv.URL()}, r.deliver)
	ctx := ctxT(t)
	for _, g := range []string{"left", "kept"} {
		if err := b.Subscribe(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Publish(ctx, "left", []byte("before")); err != nil {
		t.Fatal(err)
	}
	r.waitLen(t, "left", 1)
	if err := b.Unsubscribe(ctx, "left"); err != nil {
		t.Fatal(err)
	}
	if err := b.Unsubscribe(ctx, "never-subscribed"); err != nil {
		t.Errorf("Unsubscribe of a group not subscribed: %v", err)
	}
	if err := a.Publish(ctx, "left", []byte("after")); err != nil {
		t.Fatal(err)
	}
	// The server forwards one connection's messages in order, so once the
	// later message to "kept" is in, "after" would have been too.
	if err := a.Publish(ctx, "kept", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	r.waitLen(t, "kept", 1)
	if got := r.got("left"); !equal(got, []string{"before"}) {
		t.Errorf("unsubscribed group received %q, want only [before]", got)
	}
	// Subscribing again resumes delivery.
	if err := b.Subscribe(ctx, "left"); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "left", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := r.waitLen(t, "left", 2); got[1] != "again" {
		t.Errorf("after subscribing again: %q", got)
	}
}

// Group names with subject syntax, spaces, escapes' look-alikes and
// great length each reach their own subscribers only.
func TestGroupNames(t *testing.T) {
	srv := testservers.StartNATS(t)
	r := newRecorder()
	b := openBackend(t, Options{URL: srv.URL()}, r.deliver)
	ctx := ctxT(t)
	names := []string{"lobby", "a.b", "a", "*", ">", "a.*", "room 1", "room_201", "_", "_H00", "Ünïcødé", "\x00\xff", strings.Repeat("x", 5000), strings.Repeat("x", 5001)}
	for _, g := range names {
		if err := b.Subscribe(ctx, g); err != nil {
			t.Fatalf("Subscribe(%.40q): %v", g, err)
		}
	}
	for _, g := range names {
		if err := b.Publish(ctx, g, []byte("to "+g)); err != nil {
			t.Fatalf("Publish(%.40q): %v", g, err)
		}
	}
	if err := b.Publish(ctx, "lobby", []byte("end")); err != nil {
		t.Fatal(err)
	}
	r.waitLen(t, "lobby", 2)
	for _, g := range names {
		want := []string{"to " + g}
		if g == "lobby" {
			want = append(want, "end")
		}
		if got := r.got(g); !equal(got, want) {
			t.Errorf("group %.40q received %.80q, want %.80q", g, got, want)
		}
	}
}

// A connection of the caller's is used as is, and left open by Close.
func TestGivenConn(t *testing.T) {
	srv := testservers.StartNATS(t)
	nc, err := natsgo.Connect(srv.URL(), natsgo.ReconnectBufSize(-1), natsgo.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := newRecorder()
	ctx := ctxT(t)
	b, err := New(ctx, Options{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Open(ctx, r.deliver); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "g", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	r.waitLen(t, "g", 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !nc.IsConnected() {
		t.Error("Close closed the caller's connection")
	}
	if n := nc.NumSubscriptions(); n != 0 {
		t.Errorf("%d subscriptions left on the caller's connection after Close", n)
	}
}

// After Close every method fails with ErrClosed, and deliver is not
// called any more.
func TestClose(t *testing.T) {
	srv := testservers.StartNATS(t)
	var (
		mu     sync.Mutex
		closed bool
		late   int
	)
	b := openBackend(t, Options{URL: srv.URL()}, func(string, []byte) {
		mu.Lock()
		if closed {
			late++
		}
		mu.Unlock()
	})
	other := openBackend(t, Options{URL: srv.URL()}, nil)
	ctx := ctxT(t)
	if err := b.Subscribe(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := other.Publish(ctx, "g", []byte("x")); err != nil {
				t.Error(err)
				return
			}
		}
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	if err := other.Publish(ctx, "g", []byte("after")); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if err := other.(*backend).nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"Publish":   b.Publish(ctx, "g", nil),
		"Subscribe": b.Subscribe(ctx, "g"),
		"Add":       b.Presence().Add(ctx, "g", "k", groups.Member{ID: "x"}),
		"List":      func() error { _, err := b.Presence().List(ctx, "g"); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if late != 0 {
		t.Errorf("deliver called %d times after Close returned", late)
	}
}

// countingHandler counts the log records at or above a level.
type countingHandler struct {
	mu    sync.Mutex
	level slog.Level
	msgs  []string
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.msgs = append(h.msgs, line)
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}
