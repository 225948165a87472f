package nats

import "errors"

// Errors returned by the backend, for errors.Is.
var (
	// ErrUnreachable is returned by Open when no server of the URL
	// accepts a connection, and by Publish, Subscribe and List while the
	// connection is down and being re-established. The backend keeps
	// reconnecting; callers retry or give up, nothing is queued.
	ErrUnreachable = errors.New("groups/nats: NATS server unreachable")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("groups/nats: backend closed")
)
