package groups

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits on what one client can make a hub store, and send to every node
// of the cluster with every presence list. A hub refuses more: Join,
// Publish, Subscribe and Presence with ErrInvalidGroup, Join with
// ErrInvalidMember. A socket handler that takes a group name or a member
// from its request can check them before the upgrade, to answer 400.
const (
	// MaxGroupBytes is the longest group name, in bytes. Names must also
	// be valid UTF-8.
	MaxGroupBytes = 256

	// MaxMemberIDBytes is the longest Member.ID, in bytes. IDs must also
	// be valid UTF-8.
	MaxMemberIDBytes = 256

	// MaxMetaBytes bounds Member.Meta encoded as JSON, as json.Marshal
	// encodes it: `{"name":"Ann"}` is 14 bytes; '<', '>', '&' and control
	// characters take six bytes each. Keys and values must also be valid
	// UTF-8.
	MaxMetaBytes = 4096

	// DefaultMaxGroupsPerConn is Options.MaxGroupsPerConn when it is
	// zero.
	DefaultMaxGroupsPerConn = 100
)

// checkGroup returns why name cannot be a group's, if it cannot.
func checkGroup(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidGroup)
	case len(name) > MaxGroupBytes:
		return fmt.Errorf("%w: %d bytes, more than MaxGroupBytes (%d)", ErrInvalidGroup, len(name), MaxGroupBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidGroup)
	}
	return nil
}

// checkMember returns why m cannot be listed in a presence, if it
// cannot.
func checkMember(m Member) error {
	switch {
	case len(m.ID) > MaxMemberIDBytes:
		return fmt.Errorf("%w: ID of %d bytes, more than MaxMemberIDBytes (%d)", ErrInvalidMember, len(m.ID), MaxMemberIDBytes)
	case !utf8.ValidString(m.ID):
		return fmt.Errorf("%w: ID is not valid UTF-8", ErrInvalidMember)
	}
	if len(m.Meta) == 0 {
		return nil
	}
	size := 0
	for k, v := range m.Meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: Meta key %.40q or its value is not valid UTF-8", ErrInvalidMember, k)
		}
		size += len(k) + len(v)
		if size > MaxMetaBytes {
			// Longer once encoded, whatever it holds.
			return fmt.Errorf("%w: Meta of more than MaxMetaBytes (%d) encoded", ErrInvalidMember, MaxMetaBytes)
		}
	}
	p, err := json.Marshal(m.Meta)
	if err != nil {
		return fmt.Errorf("%w: Meta: %w", ErrInvalidMember, err)
	}
	if len(p) > MaxMetaBytes {
		return fmt.Errorf("%w: Meta of %d bytes encoded, more than MaxMetaBytes (%d)", ErrInvalidMember, len(p), MaxMetaBytes)
	}
	return nil
}
