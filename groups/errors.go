package groups

import "errors"

// Errors returned by a Hub, for errors.Is.
var (
	// ErrClosed is returned by Publish, Join, Subscribe, Presence and
	// Close once the hub is closed.
	ErrClosed = errors.New("groups: hub closed")

	// ErrInvalidGroup is returned for a group name that is empty, longer
	// than MaxGroupBytes or not valid UTF-8.
	ErrInvalidGroup = errors.New("groups: invalid group name")

	// ErrInvalidMember is returned by Join for a presence Member beyond
	// the limits (MaxMemberIDBytes, MaxMetaBytes) or not valid UTF-8; the
	// error says which.
	ErrInvalidMember = errors.New("groups: invalid presence member")

	// ErrTooManyGroups is returned by Join for a connection that already
	// holds Options.MaxGroupsPerConn memberships.
	ErrTooManyGroups = errors.New("groups: connection in too many groups")

	// ErrInvalidMessage is returned by Publish for a message that no
	// socket could receive: a type other than Text or Binary, or text
	// that is not valid UTF-8.
	ErrInvalidMessage = errors.New("groups: invalid message")
)
