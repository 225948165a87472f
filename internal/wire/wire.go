// Package wire implements the WebSocket protocol of RFC 6455 on top of a
// net.Conn: framing, message reassembly, UTF-8 validation of text, control
// frames, the closing handshake, and the checks of the opening handshake,
// with the permessage-deflate compression extension of RFC 7692.
//
// It knows nothing of HTTP routing or application protocols; the pistoke
// package builds those on the small API here. The engine is written for
// servers holding many mostly idle connections: an idle Conn holds no
// payload buffers (they are borrowed from pools while a message is in
// flight), steady-state reads and writes do not allocate, and a message is
// written with one write call.
package wire

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Opcode is the opcode of a WebSocket frame.
type Opcode uint8

// Opcodes defined by RFC 6455, section 5.2.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// String returns the opcode's name as used in RFC 6455.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(op)) + ")"
}

// isControl reports whether op is a control opcode (close, ping, pong or a
// reserved one).
func (op Opcode) isControl() bool { return op&0x8 != 0 }

// Role says which end of the connection a Conn is. It decides the masking
// rules: clients mask every frame they send, servers never do, and each
// side rejects frames that break the rule.
type Role uint8

const (
	// RoleServer reads masked frames and writes unmasked ones.
	RoleServer Role = iota
	// RoleClient writes frames masked with a fresh random key each and
	// requires the server's frames to be unmasked.
	RoleClient
)

// DefaultReadLimit is the largest message, in payload bytes after
// reassembly, that a Conn accepts when Config.ReadLimit is zero.
const DefaultReadLimit = 1 << 20

// DefaultCloseTimeout is how long the closing handshake waits for the peer
// when Config.CloseTimeout is zero.
const DefaultCloseTimeout = 5 * time.Second

// MaxControlPayload is the largest payload a control frame (close, ping,
// pong) may carry.
const MaxControlPayload = 125

// Close codes registered for RFC 6455 (section 7.4.1 and the IANA
// registry). CloseNoStatus and CloseAbnormal are reported locally and never
// appear on the wire.
const (
	CloseNormal             = 1000
	CloseGoingAway          = 1001
	CloseProtocolError      = 1002
	CloseUnsupportedData    = 1003
	CloseNoStatus           = 1005
	CloseAbnormal           = 1006
	CloseInvalidPayload     = 1007
	ClosePolicyViolation    = 1008
	CloseMessageTooBig      = 1009
	CloseMandatoryExtension = 1010
	CloseInternalError      = 1011
	CloseServiceRestart     = 1012
	CloseTryAgainLater      = 1013
)

// ValidCloseCode reports whether code may be sent in a close frame: the
// registered codes 1000-1003 and 1007-1014, and the ranges 3000-3999
// (registered by libraries and frameworks) and 4000-4999 (private use).
// Codes 1005 and 1006 are for local reporting only, 1004 and 1015 are
// reserved, and everything else is unassigned.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ErrClosed is returned by any use of a Conn after Close or CloseNow, and
// by writes after the connection has ended.
var ErrClosed = errors.New("pistoke: connection closed")

// ErrInvalidOpcode is returned by WriteMessage for an opcode other than
// OpText or OpBinary.
var ErrInvalidOpcode = errors.New("websocket: data message opcode must be text or binary")

// ErrControlTooLarge is returned by WritePing for a payload longer than
// MaxControlPayload.
var ErrControlTooLarge = errors.New("websocket: control frame payload longer than 125 bytes")

// ErrInvalidCloseCode is returned by Close for a code that is neither 0 nor
// allowed on the wire (see ValidCloseCode). The connection is left open.
var ErrInvalidCloseCode = errors.New("websocket: invalid close code")

// CloseError reports that the peer ended the connection: it sent a close
// frame, or the stream ended (EOF, reset or any other read failure) without
// one.
//
// When ReadMessage returns a CloseError for a close frame, the engine has
// already answered it with a close frame carrying the same code and, in the
// server role, closed the network connection; in the client role it waited
// (bounded by the close timeout) for the server to close first.
type CloseError struct {
	// Code is the peer's close code, CloseNoStatus (1005) when its close
	// frame carried none, or CloseAbnormal (1006) when the stream ended
	// without a close frame.
	Code int
	// Reason is the peer's close reason (valid UTF-8), if any.
	Reason string

	cause error // the read error behind a CloseAbnormal
}

func (e *CloseError) Error() string {
	if e.Code == CloseAbnormal {
		if e.cause != nil {
			return "websocket: connection ended without a close frame: " + e.cause.Error()
		}
		return "websocket: connection ended without a close frame"
	}
	if e.Reason == "" {
		return "websocket: closed by peer with code " + strconv.Itoa(e.Code)
	}
	return fmt.Sprintf("websocket: closed by peer with code %d: %q", e.Code, e.Reason)
}

// Unwrap returns the read error that ended a connection abnormally (code
// CloseAbnormal), such as io.EOF, or nil.
func (e *CloseError) Unwrap() error { return e.cause }

// ProtocolError reports that the peer broke the protocol or sent a message
// larger than the read limit. The engine has already sent a close frame with
// Code (CloseProtocolError, CloseInvalidPayload or CloseMessageTooBig) and closed
// the network connection.
type ProtocolError struct {
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: protocol error (close code %d): %s", e.Code, e.Reason)
}
