package pistoke

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pistoke/pistoke/internal/wire"
)

// Errors a handler or a test can tell apart with errors.Is.
var (
	// ErrClosed is matched by every error that Receive, Send and the
	// other Conn methods return once the connection has ended, whoever
	// ended it. A handler that receives it has nothing left to do but
	// return.
	ErrClosed = wire.ErrClosed

	// ErrSlowConsumer is matched by the errors that sends return when
	// their connection was dropped because the client did not read fast
	// enough; see Options.SendQueue.
	ErrSlowConsumer = errors.New("pistoke: client too slow, connection dropped")

	// ErrCSRF is returned by CheckCSRF when a token is missing or does
	// not match the request's CSRF cookie.
	ErrCSRF = errors.New("CSRF token missing or invalid")

	// ErrNestedProtocol is logged (and reported by pistoketest) when a
	// protocol finds another protocol already in charge of the same
	// handshake. The handshake is refused with 500 before any upgrade.
	ErrNestedProtocol = errors.New("pistoke: protocol nested inside another protocol")

	// ErrNotAccepted is reported when a RawHandlerFunc returns without
	// accepting or denying its handshake; the client gets 403.
	ErrNotAccepted = errors.New("pistoke: raw handler returned without accepting or denying the handshake")
)

// CloseError describes how a connection ended, with the close code and
// reason of the closing handshake.
//
// Receive returns it when the peer closes the connection (Code is 1005
// when the peer's close frame had no code, 1006 when the connection broke
// without a close frame) or when pistoke closed it because the peer broke
// the protocol (1002, 1007, 1009). It matches [ErrClosed].
//
// A handler may also return a CloseError to close the connection with a
// code of its choice, for example 4001 for an application-defined reason.
type CloseError struct {
	Code   int
	Reason string

	cause error // the I/O error behind a 1006, for errors.Is
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("pistoke: connection closed with %d (%s)", e.Code, closeText(e.Code))
	}
	return fmt.Sprintf("pistoke: connection closed with %d (%s): %s", e.Code, closeText(e.Code), e.Reason)
}

// Is reports whether target is ErrClosed, so that errors.Is(err,
// ErrClosed) holds for every close.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// Unwrap returns the I/O error behind an abnormal closure, if any, so that
// errors.Is(err, os.ErrDeadlineExceeded) tells a timeout.
func (e *CloseError) Unwrap() error { return e.cause }

// HandshakeError is the error a refused or malformed handshake produces:
// the HTTP status the client received and why. [Dial] returns it when the
// server does not switch protocols, with the start of the response body
// as the Reason.
type HandshakeError struct {
	Status int
	Reason string

	allow string // the response's Allow header, for the hint on a 405
}

func (e *HandshakeError) Error() string {
	msg := fmt.Sprintf("pistoke: handshake refused: %d %s", e.Status, http.StatusText(e.Status))
	if reason := strings.TrimPrefix(strings.TrimPrefix(e.Reason, http.StatusText(e.Status)), ": "); reason != "" {
		msg += ": " + reason
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

func (e *HandshakeError) hint() string { return wire.RefusalHint(e.Status, e.allow, MethodWebsocket) }

// PanicError wraps a value a handler panicked with, and the stack at the
// panic. pistoke recovers handler panics, closes the connection with 1011
// and logs a PanicError; pistoketest returns it to the test.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("pistoke: handler panicked: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
