package groups_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
)

// metaOf returns metadata whose JSON encoding is exactly n bytes.
func metaOf(t *testing.T, n int) map[string]string {
	t.Helper()
	const empty = len(`{"k":""}`)
	m := map[string]string{"k": strings.Repeat("v", n-empty)}
	if p, err := json.Marshal(m); err != nil || len(p) != n {
		t.Fatalf("metadata of %d bytes encoded, want %d (%v)", len(p), n, err)
	}
	return m
}

// A group name, member ID or metadata beyond the limits is refused with
// an error that says so; one at the limit is accepted.
func TestLimits(t *testing.T) {
	hub, err := groups.New(context.Background(), nil, &groups.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	ctx := context.Background()

	longest := strings.Repeat("g", groups.MaxGroupBytes)
	for name, group := range map[string]string{
		"empty":    "",
		"too long": longest + "g",
		"bad UTF8": "room\xff",
	} {
		for op, err := range map[string]error{
			"Publish":   hub.PublishText(ctx, group, "x"),
			"Presence":  second(hub.Presence(ctx, group)),
			"Subscribe": second(hub.Subscribe(ctx, group, 1)),
		} {
			if !errors.Is(err, groups.ErrInvalidGroup) {
				t.Errorf("%s of a group name %s: %v, want ErrInvalidGroup", op, name, err)
			}
		}
	}
	if err := hub.PublishText(ctx, longest, "x"); err != nil {
		t.Errorf("Publish to a name of MaxGroupBytes: %v", err)
	}

	longID := strings.Repeat("i", groups.MaxMemberIDBytes)
	at := grouptest.NewServer(t, hub, &grouptest.Options{Presence: true, Meta: metaOf(t, groups.MaxMetaBytes)})
	at.Dial(t, longest, longID, nil)
	present, err := hub.Presence(ctx, longest)
	if err != nil {
		t.Fatal(err)
	}
	if len(present) != 1 || present[0].ID != longID || len(present[0].Meta["k"]) == 0 {
		t.Errorf("presence of a member at the limits: %d entries", len(present))
	}

	over := grouptest.NewServer(t, hub, &grouptest.Options{Presence: true, Meta: metaOf(t, groups.MaxMetaBytes+1)})
	escaped := grouptest.NewServer(t, hub, &grouptest.Options{Presence: true, Meta: map[string]string{
		"k": strings.Repeat("<", groups.MaxMetaBytes/2), // six bytes each once encoded
	}})
	badMeta := grouptest.NewServer(t, hub, &grouptest.Options{Presence: true, Meta: map[string]string{"k": "\xff"}})
	for _, tc := range []struct {
		name   string
		s      *grouptest.Server
		group  string
		id     string
		want   error
		reason string
	}{
		{"group too long", at, longest + "g", "ann", groups.ErrInvalidGroup, "MaxGroupBytes"},
		{"ID too long", at, "room", longID + "i", groups.ErrInvalidMember, "MaxMemberIDBytes"},
		{"ID not UTF-8", at, "room", "ann\xff", groups.ErrInvalidMember, "UTF-8"},
		{"meta too large", over, "room", "bob", groups.ErrInvalidMember, "MaxMetaBytes"},
		{"meta too large once escaped", escaped, "room", "cid", groups.ErrInvalidMember, "MaxMetaBytes"},
		{"meta not UTF-8", badMeta, "room", "dan", groups.ErrInvalidMember, "UTF-8"},
	} {
		if _, err := tc.s.TryDial(t, tc.group, tc.id, nil); err == nil {
			t.Errorf("%s: joined", tc.name)
		}
		err := tc.s.JoinError(tc.id)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: Join returned %v, want %v naming %s", tc.name, err, tc.want, tc.reason)
		}
	}
	if present, err := hub.Presence(ctx, "room"); err != nil || len(present) != 0 {
		t.Errorf("presence of room after refused joins: %v, %v; want none", present, err)
	}

	if _, err := groups.New(ctx, nil, &groups.Options{MaxGroupsPerConn: -1}); err == nil {
		t.Error("negative MaxGroupsPerConn accepted")
	}
}

// A connection holds at most MaxGroupsPerConn memberships; leaving one,
// or the end of the connection, makes room again.
func TestMaxGroupsPerConn(t *testing.T) {
	const max = 3
	hub, err := groups.New(context.Background(), nil, &groups.Options{MaxGroupsPerConn: max, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	ctx := context.Background()
	sub, err := hub.Subscribe(ctx, "g0", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// The handler joins one group more than allowed, twice: before and
	// after leaving one; then it waits for its client to go.
	errs := make(chan []error, 1)
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		var got []error
		var first *groups.Membership
		for i := range max + 1 {
			m, err := hub.Join(ws, "g"+strconv.Itoa(i), &groups.JoinOptions{Presence: &groups.Member{ID: "ann"}})
			got = append(got, err)
			if i == 0 {
				first = m
			}
		}
		if first != nil {
			got = append(got, first.Leave())
			_, err := hub.Join(ws, "g"+strconv.Itoa(max+1), &groups.JoinOptions{Presence: &groups.Member{ID: "ann"}})
			got = append(got, err)
		}
		errs <- got
		for range ws.Messages() {
		}
		return nil
	}))
	srv := httptest.NewServer(pistoke.Handler(mux, pistoke.Options{Logger: quietLogger()}))
	defer srv.Close()
	dctx, cancel := context.WithTimeout(ctx, receiveTimeout)
	defer cancel()
	ws, _, err := pistoke.Dial(dctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := <-errs
	for i, err := range got {
		switch {
		case i == max:
			if !errors.Is(err, groups.ErrTooManyGroups) {
				t.Errorf("join %d: %v, want ErrTooManyGroups", i, err)
			}
		case err != nil:
			t.Errorf("step %d: %v", i, err)
		}
	}
	if len(got) != max+3 {
		t.Fatalf("%d steps ran, want %d", len(got), max+3)
	}
	if ev := nextEvent(t, sub); ev.Kind != groups.Joined {
		t.Fatalf("event %v, want Joined", ev.Kind)
	}
	if ev := nextEvent(t, sub); ev.Kind != groups.Left {
		t.Fatalf("event %v, want Left", ev.Kind)
	}
	if n := groups.CountedConns(hub); n != 1 {
		t.Errorf("memberships counted for %d connections, want 1", n)
	}

	// The end of the connection ends its memberships, and their count.
	presenceOf := func() int {
		n := 0
		for i := range max + 2 {
			list, err := hub.Presence(ctx, "g"+strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			n += len(list)
		}
		return n
	}
	if n := presenceOf(); n != max {
		t.Errorf("%d presence entries, want %d", n, max)
	}
	// Every membership left is announced after its count went.
	var subs []*groups.Subscription
	for _, g := range []string{"g1", "g2", "g" + strconv.Itoa(max+1)} {
		s, err := hub.Subscribe(ctx, g, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	ws.Close(pistoke.CloseNormal, "")
	for _, s := range subs {
		if ev := nextEvent(t, s); ev.Kind != groups.Left {
			t.Fatalf("event %v, want Left", ev.Kind)
		}
	}
	if n := groups.CountedConns(hub); n != 0 {
		t.Errorf("memberships counted for %d connections after they all ended, want 0", n)
	}
	if n := presenceOf(); n != 0 {
		t.Errorf("%d presence entries after the connection ended", n)
	}
}
