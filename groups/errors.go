package groups

import "errors"

// Errors returned by a Hub, for errors.Is.
var (
	// ErrClosed is returned by Publish, Join, Subscribe, Presence and
	// Close once the hub is closed.
	ErrClosed = errors.New("groups: hub closed")

	// ErrInvalidGroup is returned for an empty group name.
	ErrInvalidGroup = errors.New("groups: invalid group name")

	// ErrInvalidMessage is returned by Publish for a message that no
	// socket could receive: a type other than Text or Binary, or text
	// that is not valid UTF-8.
	ErrInvalidMessage = errors.New("groups: invalid message")
)
