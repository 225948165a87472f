package grouptest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/pistoke/pistoke/groups"
)

// LargestMember returns the n-th of distinct presence members as large
// as a hub accepts: an ID of groups.MaxMemberIDBytes whose JSON encoding
// is as long as an ID's can be, and Meta of groups.MaxMetaBytes encoded.
func LargestMember(n int) groups.Member {
	prefix := fmt.Sprintf("%08d", n)
	id := prefix + strings.Repeat("<", groups.MaxMemberIDBytes-len(prefix)) // "\u003c" once encoded
	const empty = len(`{"k":""}`)
	return groups.Member{ID: id, Meta: map[string]string{"k": strings.Repeat("v", groups.MaxMetaBytes-empty)}}
}

// PresenceAtLimits checks a cluster's hubs with members at the limits:
// perHub clients join a group on each hub as LargestMember, and every
// hub's Presence lists them all, with their Meta; a member one byte
// larger, of ID or of Meta, is refused with groups.ErrInvalidMember. The
// hubs must share a backend's broker, and a fresh group.
func PresenceAtLimits(t TB, hubs []*groups.Hub, group string, perHub int) {
	t.Helper()
	largest := LargestMember(0).Meta
	var want []string
	for i, hub := range hubs {
		s := NewServer(t, hub, &Options{Presence: true, Meta: largest})
		for j := range perHub {
			id := LargestMember(i*perHub + j).ID
			s.Dial(t, group, id, &DialOptions{CloseNow: true})
			want = append(want, id)
		}
		if i > 0 {
			continue
		}
		// Refused, and listed nowhere.
		if _, err := s.TryDial(t, group, want[0]+"x", nil); err == nil {
			t.Fatalf("a client whose ID exceeds MaxMemberIDBytes joined")
		}
		if err := s.JoinError(want[0] + "x"); !errors.Is(err, groups.ErrInvalidMember) {
			t.Fatalf("Join of an ID beyond MaxMemberIDBytes: %v, want ErrInvalidMember", err)
		}
		over := maps.Clone(largest)
		over["k"] += "v"
		big := NewServer(t, hub, &Options{Presence: true, Meta: over})
		if _, err := big.TryDial(t, group, "too-much-meta", nil); err == nil {
			t.Fatalf("a client whose Meta exceeds MaxMetaBytes joined")
		}
		if err := big.JoinError("too-much-meta"); !errors.Is(err, groups.ErrInvalidMember) {
			t.Fatalf("Join with Meta beyond MaxMetaBytes: %v, want ErrInvalidMember", err)
		}
	}
	for i, hub := range hubs {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		list, err := hub.Presence(ctx, group)
		cancel()
		if err != nil {
			t.Fatalf("hub %d: Presence: %v", i, err)
		}
		if len(list) != len(want) {
			t.Fatalf("hub %d lists %d members, want %d", i, len(list), len(want))
		}
		for j, m := range list { // sorted by ID, as want
			if m.ID != want[j] || !maps.Equal(m.Meta, largest) {
				t.Fatalf("hub %d: member %d is %.20q with %d bytes of meta, want %.20q with its meta", i, j, m.ID, len(m.Meta["k"]), want[j])
			}
		}
	}
}
