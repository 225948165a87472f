package grouptest_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
)

// Every server and socket a test opens must be gone when it ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newHub returns an in-process hub, closed when the test ends.
func newHub(t *testing.T, opts *groups.Options) *groups.Hub {
	t.Helper()
	if opts == nil {
		opts = &groups.Options{}
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	hub, err := groups.New(context.Background(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return hub
}

func TestSocketsPublishToTheirGroup(t *testing.T) {
	s := grouptest.NewServer(t, newHub(t, nil), nil)
	ann := s.Dial(t, "room", "ann", nil)
	bob := s.Dial(t, "room", "bob", nil)
	other := s.Dial(t, "elsewhere", "eve", nil)

	if err := ann.Conn.SendText("hello"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*grouptest.Client{ann, bob} {
		if got := c.Receive(); got != "hello" {
			t.Errorf("%s received %q, want \"hello\"", c.ID, got)
		}
	}
	if err := s.Hub.PublishText(context.Background(), "elsewhere", "only here"); err != nil {
		t.Fatal(err)
	}
	if got := other.Receive(); got != "only here" {
		t.Errorf("%s received %q, want \"only here\"", other.ID, got)
	}
}

func TestMembership(t *testing.T) {
	s := grouptest.NewServer(t, newHub(t, nil), nil)
	s.Dial(t, "room", "ann", nil)
	s.Dial(t, "lobby", "bob", nil)
	for id, want := range map[string]string{"ann": "room", "bob": "lobby"} {
		if m := s.Membership(id); m == nil || m.Group() != want {
			t.Errorf("membership of %s: %v, want one of %q", id, m, want)
		}
	}
	// The latest socket of an id wins.
	s.Dial(t, "hall", "ann", nil)
	if m := s.Membership("ann"); m == nil || m.Group() != "hall" {
		t.Errorf("membership of ann after a second socket: %v, want one of \"hall\"", m)
	}
	if m := s.Membership("nobody"); m != nil {
		t.Errorf("membership %v for a client that never dialled", m)
	}
	if err := s.JoinError("ann"); err != nil {
		t.Errorf("JoinError of a client that joined: %v", err)
	}
}

func TestPresence(t *testing.T) {
	meta := map[string]string{"via": "grouptest"}
	for _, tc := range []struct {
		name string
		all  bool
		want map[string]string // meta "via" by present id
	}{
		{"on request", false, map[string]string{"ann": "grouptest"}},
		{"for all", true, map[string]string{"ann": "grouptest", "bob": "grouptest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := grouptest.NewServer(t, newHub(t, nil), &grouptest.Options{Presence: tc.all, Meta: meta})
			s.Dial(t, "room", "ann", &grouptest.DialOptions{Presence: true})
			s.Dial(t, "room", "bob", nil)
			present, err := s.Hub.Presence(context.Background(), "room")
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]string)
			for _, m := range present {
				got[m.ID] = m.Meta["via"]
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("presence = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTryDialClosedHub(t *testing.T) {
	hub := newHub(t, nil)
	s := grouptest.NewServer(t, hub, nil)
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.TryDial(t, "room", "late", nil)
	var ce *pistoke.CloseError
	if !errors.As(err, &ce) || ce.Code != pistoke.CloseInternalError {
		t.Errorf("TryDial on a closed hub: %v, want a close with code %d", err, pistoke.CloseInternalError)
	}
	if err := s.JoinError("late"); !errors.Is(err, groups.ErrClosed) {
		t.Errorf("JoinError = %v, want groups.ErrClosed", err)
	}
	if !strings.HasPrefix(err.Error(), "late: ") {
		t.Errorf("error %q does not name the client", err)
	}
}

func TestTryReceiveBinary(t *testing.T) {
	s := grouptest.NewServer(t, newHub(t, nil), nil)
	c := s.Dial(t, "room", "ann", nil)
	if err := s.Hub.Publish(context.Background(), "room", pistoke.Binary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TryReceive(); !errors.Is(err, grouptest.ErrNotText) {
		t.Errorf("TryReceive of a binary message: %v, want ErrNotText", err)
	}
}

// The handler's options reach the server: an idle timeout closes the
// socket, which WaitClose reports.
func TestWaitClose(t *testing.T) {
	s := grouptest.NewServer(t, newHub(t, nil), &grouptest.Options{
		Handler: pistoke.Options{IdleTimeout: 100 * time.Millisecond},
	})
	c := s.Dial(t, "room", "ann", nil)
	if ce, skipped := c.WaitClose(); ce.Code != pistoke.CloseNormal || skipped != 0 {
		t.Errorf("WaitClose = %v, %d skipped; want %d, 0 skipped", ce, skipped, pistoke.CloseNormal)
	}
}

// With small buffers on both ends, a client that never reads holds up
// its socket after a few messages, and the hub drops for it, while a
// client that reads gets everything.
func TestSmallBuffers(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	s := grouptest.NewServer(t, newHub(t, &groups.Options{QueueSize: 4}), &grouptest.Options{
		SendBuffer: func(id string) int {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, id)
			if id == "slow" {
				return 4096
			}
			return 0
		},
	})
	s.Dial(t, "g", "slow", &grouptest.DialOptions{ReadBuffer: 4096, CloseNow: true})
	fast := s.Dial(t, "g", "fast", nil)
	mu.Lock()
	if want := []string{"slow", "fast"}; !slices.Equal(asked, want) {
		t.Errorf("SendBuffer asked for %q, want %q", asked, want)
	}
	mu.Unlock()

	payload := strings.Repeat("x", 16<<10)
	slow := s.Membership("slow")
	for n := 0; slow.Dropped() == 0; n++ {
		if n == 1000 {
			t.Fatal("the hub never dropped for a client that does not read")
		}
		if err := s.Hub.PublishText(context.Background(), "g", strconv.Itoa(n)+" "+payload); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := strings.Cut(fast.Receive(), " "); got != strconv.Itoa(n) {
			t.Fatalf("fast client received message %s, want %d", got, n)
		}
	}
	if d := s.Membership("fast").Dropped(); d != 0 {
		t.Errorf("dropped %d messages for the client that reads", d)
	}
}

func TestLargestMember(t *testing.T) {
	a, b := grouptest.LargestMember(1), grouptest.LargestMember(2)
	if a.ID == b.ID {
		t.Errorf("two members share the ID %q", a.ID)
	}
	if len(a.ID) != groups.MaxMemberIDBytes {
		t.Errorf("ID of %d bytes, want MaxMemberIDBytes", len(a.ID))
	}
	if p, err := json.Marshal(a.Meta); err != nil || len(p) != groups.MaxMetaBytes {
		t.Errorf("Meta of %d bytes encoded (%v), want MaxMetaBytes", len(p), err)
	}
}

// On an in-process hub, a cluster of one, members at the limits are
// listed and those beyond refused.
func TestPresenceAtLimits(t *testing.T) {
	grouptest.PresenceAtLimits(t, []*groups.Hub{newHub(t, nil)}, "room", 5)
}
