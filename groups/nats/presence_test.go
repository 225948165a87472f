package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/pistoke/pistoke/groups"
	"github.com/pistoke/pistoke/internal/grouptest"
	"github.com/pistoke/pistoke/internal/testservers"
)

// ids lists the ids of ms, sorted.
func ids(ms []groups.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

func list(t *testing.T, b groups.Backend, group string) []string {
	t.Helper()
	ms, err := b.Presence().List(ctxT(t), group)
	if err != nil {
		t.Fatalf("List(%q): %v", group, err)
	}
	return ids(ms)
}

// Entries added on any node are listed by every node, a worker with no
// entries of its own included, and removed entries are gone everywhere.
func TestPresenceAcrossNodes(t *testing.T) {
	srv := testservers.StartNATS(t)
	a := openBackend(t, Options{URL: srv.URL()}, nil)
	b := openBackend(t, Options{URL: srv.URL()}, nil)
	worker := openBackend(t, Options{URL: srv.URL()}, nil)
	ctx := ctxT(t)
	add := func(be groups.Backend, group, key, id string) {
		t.Helper()
		if err := be.Presence().Add(ctx, group, key, groups.Member{ID: id, Meta: map[string]string{"name": strings.ToUpper(id)}}); err != nil {
			t.Fatal(err)
		}
	}
	add(a, "room", "a1", "ann")
	add(b, "room", "b1", "bob")
	add(b, "room", "b2", "bob") // a second tab
	add(b, "other", "b3", "cid")

	want := []string{"ann", "bob", "bob"}
	for name, be := range map[string]groups.Backend{"a": a, "b": b, "worker": worker} {
		if got := list(t, be, "room"); !slices.Equal(got, want) {
			t.Errorf("List on %s = %q, want %q", name, got, want)
		}
	}
	ms, err := worker.Presence().List(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].ID != "cid" || ms[0].Meta["name"] != "CID" {
		t.Errorf("List(other) = %+v, want cid with its meta", ms)
	}
	if got := list(t, worker, "empty"); len(got) != 0 {
		t.Errorf("List of an empty group = %q", got)
	}

	if err := b.Presence().Remove(ctx, "room", "b1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Presence().Remove(ctx, "room", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Presence().Remove(ctx, "room", "unknown"); err != nil {
		t.Errorf("Remove of an unknown key: %v", err)
	}
	if got := list(t, worker, "room"); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("after removals List = %q, want [bob]", got)
	}
}

// A node's entries are listed even when it is just starting: lists wait
// for the nodes they have not heard from yet for a moment after
// connecting.
func TestPresenceFreshLister(t *testing.T) {
	srv := testservers.StartNATS(t)
	a := openBackend(t, Options{URL: srv.URL()}, nil)
	if err := a.Presence().Add(ctxT(t), "room", "k", groups.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	fresh := openBackend(t, Options{URL: srv.URL()}, nil)
	if got := list(t, fresh, "room"); !slices.Equal(got, []string{"ann"}) {
		t.Errorf("List right after Open = %q, want [ann]", got)
	}
}

// A group with more entries than fit in one message is answered in
// several.
func TestPresenceLargeAnswer(t *testing.T) {
	srv := testservers.StartNATS(t)
	a := openBackend(t, Options{URL: srv.URL()}, nil)
	b := openBackend(t, Options{URL: srv.URL()}, nil)
	ctx := ctxT(t)
	const n = 6000
	meta := map[string]string{"bio": strings.Repeat("z", 200)}
	for i := range n {
		if err := a.Presence().Add(ctx, "big", fmt.Sprint(i), groups.Member{ID: fmt.Sprintf("m%05d", i), Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	if max := a.(*backend).nc.MaxPayload(); int64(n*200) < max {
		t.Fatalf("the entries (%d bytes) fit in one message of %d bytes: the test proves nothing", n*200, max)
	}
	got := list(t, b, "big")
	if len(got) != n {
		t.Fatalf("listed %d entries, want %d", len(got), n)
	}
	for i, id := range got {
		if id != fmt.Sprintf("m%05d", i) {
			t.Fatalf("entry %d is %q", i, id)
		}
	}
}

// crash cuts a backend off the server as a killed process would be: no
// goodbye, no more heartbeats or answers.
func crash(t *testing.T, b groups.Backend) {
	t.Helper()
	b.(*backend).nc.Close() // gone before Close can say goodbye
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// alive reports whether lister believes node alive.
func alive(lister, node groups.Backend) bool {
	l := lister.(*backend)
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.nodes[node.(*backend).node]
	return ok && n.alive(time.Now())
}

// The entries of a node that stops answering are not listed; the node is
// forgotten within its TTL, or at once by a list it failed to answer, so
// that later lists do not wait for it.
func TestPresenceCrashedNode(t *testing.T) {
	srv := testservers.StartNATS(t)
	const ttl = 300 * time.Millisecond
	a := openBackend(t, Options{URL: srv.URL(), PresenceTTL: ttl}, nil)
	b := openBackend(t, Options{URL: srv.URL(), PresenceTTL: ttl}, nil)
	c := openBackend(t, Options{URL: srv.URL(), PresenceTTL: ttl}, nil)
	ctx := ctxT(t)
	for _, e := range []struct {
		be       groups.Backend
		key, who string
	}{{a, "a1", "ann"}, {b, "b1", "bob"}, {c, "c1", "cid"}} {
		if err := e.be.Presence().Add(ctx, "room", e.key, groups.Member{ID: e.who}); err != nil {
			t.Fatal(err)
		}
	}
	if got := list(t, b, "room"); !slices.Equal(got, []string{"ann", "bob", "cid"}) {
		t.Fatalf("before the crashes List = %q", got)
	}
	if !alive(b, a) || !alive(b, c) {
		t.Fatal("b has not heard from a and c")
	}

	// Without lists, the TTL alone.
	crash(t, a)
	eventually(t, "crashed node forgotten", func() bool { return !alive(b, a) })
	if got := list(t, b, "room"); !slices.Equal(got, []string{"bob", "cid"}) {
		t.Errorf("after a's crash List = %q, want [bob cid]", got)
	}

	// A list that the crashed node does not answer.
	crash(t, c)
	if got := list(t, b, "room"); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("after c's crash List = %q, want [bob]", got)
	}
	if alive(b, c) {
		t.Error("a node that did not answer a list is still waited for")
	}
}

// A node that closes says goodbye: the others forget it at once, long
// before its TTL.
func TestPresenceGoodbye(t *testing.T) {
	srv := testservers.StartNATS(t)
	const ttl = time.Hour
	a := openBackend(t, Options{URL: srv.URL(), PresenceTTL: ttl}, nil)
	b := openBackend(t, Options{URL: srv.URL(), PresenceTTL: ttl}, nil)
	if err := a.Presence().Add(ctxT(t), "room", "a1", groups.Member{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	if got := list(t, b, "room"); !slices.Equal(got, []string{"ann"}) {
		t.Fatalf("List = %q", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "closed node forgotten", func() bool { return !alive(b, a) })
	if got := list(t, b, "room"); len(got) != 0 {
		t.Errorf("after Close List = %q, want none", got)
	}
}

// Lists honour their context.
func TestPresenceListContext(t *testing.T) {
	srv := testservers.StartNATS(t)
	a := openBackend(t, Options{URL: srv.URL()}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Presence().List(ctx, "room"); err == nil {
		t.Error("List with a cancelled context succeeded")
	}
}

// logCounter is a slog handler that counts records by message.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: make(map[string]int)} }

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCounter) WithGroup(string) slog.Handler            { return h }

func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}

func (h *logCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

// complete fails the test if a list of lister returned without the
// answer of a node it was waiting for: lists must end because every node
// answered, not because they gave up.
func complete(t *testing.T, lister groups.Backend) {
	t.Helper()
	if n := lister.(*backend).incomplete.Load(); n != 0 {
		t.Errorf("%d lists returned without the answer of a node they waited for", n)
	}
}

// An entry too large for any message is left out of its node's answers,
// and logged; the node's other entries are listed, and the lister does
// not wait for the answer's end, which comes all the same.
func TestPresenceOversizedEntry(t *testing.T) {
	srv := testservers.StartNATS(t)
	logs := newLogCounter()
	a := openBackend(t, Options{URL: srv.URL(), Logger: slog.New(logs)}, nil)
	b := openBackend(t, Options{URL: srv.URL(), Logger: quiet()}, nil)
	ctx := ctxT(t)
	limit := int(a.(*backend).nc.MaxPayload())
	var want []string
	for i := range 100 {
		id := fmt.Sprintf("m%03d", i)
		want = append(want, id)
		if err := a.Presence().Add(ctx, "room", id, groups.Member{ID: id}); err != nil {
			t.Fatal(err)
		}
		if i%25 == 0 { // among the others, wherever the map puts them
			huge := groups.Member{ID: fmt.Sprintf("huge%d", i), Meta: map[string]string{"k": strings.Repeat("<", limit/6)}}
			if err := a.Presence().Add(ctx, "room", huge.ID, huge); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 3 {
		got := list(t, b, "room")
		complete(t, b)
		if !slices.Equal(got, want) {
			t.Fatalf("List = %d entries %.60q, want the %d that fit", len(got), got, len(want))
		}
	}
	if n := logs.count("groups/nats: presence entries left out of a list: larger than the server's max_payload"); n != 1 {
		t.Errorf("entries left out logged %d times, want once (at most every %v)", n, logEvery)
	}
}

// Members as large as a hub accepts, hundreds per node: every node's
// answer takes several messages, every entry is listed, and the list
// ends once every node has answered.
func TestPresenceLargestEntries(t *testing.T) {
	srv := testservers.StartNATS(t)
	nodes := []groups.Backend{
		openBackend(t, Options{URL: srv.URL()}, nil),
		openBackend(t, Options{URL: srv.URL()}, nil),
	}
	worker := openBackend(t, Options{URL: srv.URL()}, nil)
	ctx := ctxT(t)
	const perNode = 400
	var want []string
	size := 0
	for i, be := range nodes {
		for j := range perNode {
			m := grouptest.LargestMember(i*perNode + j)
			if err := be.Presence().Add(ctx, "room", m.ID, m); err != nil {
				t.Fatal(err)
			}
			want = append(want, m.ID)
			p, _ := json.Marshal(m)
			size += len(p)
		}
	}
	slices.Sort(want)
	if limit := worker.(*backend).nc.MaxPayload(); int64(size/len(nodes)) < 2*limit {
		t.Fatalf("a node's entries (%d bytes) fit in two messages of %d bytes: the test proves little", size/len(nodes), limit)
	}
	for _, lister := range []groups.Backend{worker, nodes[0]} {
		ms, err := lister.Presence().List(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		complete(t, lister)
		if got := ids(ms); !slices.Equal(got, want) {
			t.Fatalf("listed %d entries, want %d", len(got), len(want))
		}
		for _, m := range ms {
			if !maps.Equal(m.Meta, grouptest.LargestMember(0).Meta) {
				t.Fatalf("entry %.20q has %d bytes of meta", m.ID, len(m.Meta["k"]))
			}
		}
	}
}

// A node whose answer comes in parts spread over more than the wait for
// an answer is waited for while its parts keep coming: its entries are
// all listed.
func TestPresenceSlowAnswer(t *testing.T) {
	srv := testservers.StartNATS(t)
	lister := openBackend(t, Options{URL: srv.URL(), Logger: quiet()}, nil)
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// A node of its own making: it announces itself, then answers every
	// list in parts, maxAnswerWait/3 apart.
	const parts = 5
	var wg sync.WaitGroup
	defer wg.Wait()
	sub, err := nc.Subscribe(DefaultPrefix+"presence.list.>", func(m *natsgo.Msg) {
		wg.Go(func() {
			for i := range parts {
				if i > 0 {
					time.Sleep(maxAnswerWait / 3) // a node slow to answer, not a synchronisation
				}
				p := fmt.Sprintf(`{"node":"slow","ttl_ms":60000,"members":[{"id":"part%d"}],"more":%v}`, i, i < parts-1)
				if err := nc.Publish(m.Reply, []byte(p)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Publish(DefaultPrefix+"presence.node", []byte(`{"node":"slow","kind":"beat","ttl_ms":60000}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slow node known", func() bool {
		l := lister.(*backend)
		l.mu.Lock()
		defer l.mu.Unlock()
		_, ok := l.nodes["slow"]
		return ok
	})

	got := list(t, lister, "room")
	complete(t, lister)
	var want []string
	for i := range parts {
		want = append(want, fmt.Sprintf("part%d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}
