package groups

import (
	"strconv"
	"testing"

	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

func TestRing(t *testing.T) {
	msgs := make([]*wire.PreparedMessage, 20)
	for i := range msgs {
		m, err := broadcast.Prepare(wire.OpText, []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = m
	}
	names := func(ms []*wire.PreparedMessage) string {
		s := ""
		for _, m := range ms {
			s += string(m.Payload()) + " "
		}
		return s
	}
	const size = 6
	var r ring
	if len(r.buf) != 0 {
		t.Fatal("a new ring holds an array")
	}
	// Fill, drop the oldest as a full queue does, wrap around.
	next := 0
	for range 9 {
		if r.n == size {
			r.drop()
		}
		r.push(msgs[next], size)
		next++
	}
	if len(r.buf) != size {
		t.Errorf("ring grew to %d, want %d", len(r.buf), size)
	}
	if got, want := names(r.take(nil)), "3 4 5 6 7 8 "; got != want {
		t.Errorf("took %q, want %q", got, want)
	}
	if r.n != 0 {
		t.Errorf("%d left after take", r.n)
	}
	for _, m := range r.buf {
		if m != nil {
			t.Fatal("take left a message referenced")
		}
	}
	// Growth keeps the order of a wrapped ring.
	r = ring{}
	for i := range 4 {
		r.push(msgs[i], 16)
	}
	r.drop()
	r.drop()
	for i := 4; i < 14; i++ {
		r.push(msgs[i], 16)
	}
	if got, want := names(r.take(nil)), "2 3 4 5 6 7 8 9 10 11 12 13 "; got != want {
		t.Errorf("took %q, want %q", got, want)
	}
	// An empty ring gives back a large array, keeps a small one.
	r.idle()
	if r.buf != nil {
		t.Errorf("idle ring kept %d slots", len(r.buf))
	}
	r.push(msgs[0], 16)
	r.take(nil)
	r.idle()
	if len(r.buf) == 0 || len(r.buf) > ringKeep {
		t.Errorf("idle ring has %d slots, want 1 to %d", len(r.buf), ringKeep)
	}
	r.push(msgs[0], 16)
	r.reset()
	if r.buf != nil || r.n != 0 {
		t.Error("reset ring not empty")
	}
}
