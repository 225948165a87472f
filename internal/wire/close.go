package wire

import (
	"encoding/binary"
	"errors"
	"time"
	"unicode/utf8"
)

// fail fails the connection: it sends a close frame with code, closes the
// connection and returns a *ProtocolError.
func (c *Conn) fail(code int, reason string) error {
	c.resetRead()
	c.nc.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	c.sendClose(code, reason)
	c.lingerClose()
	return &ProtocolError{Code: code, Reason: reason}
}

// gotClose handles the peer's close frame with payload p.
func (c *Conn) gotClose(p []byte) error {
	code, reason := CloseNoStatus, ""
	switch {
	case len(p) == 1:
		return c.fail(CloseProtocolError, "close frame with a 1-byte payload")
	case len(p) >= 2:
		code = int(binary.BigEndian.Uint16(p))
		if !ValidCloseCode(code) {
			return c.fail(CloseProtocolError, "invalid close code")
		}
		if !validUTF8(p[2:]) {
			return c.fail(CloseInvalidPayload, "close reason is not valid UTF-8")
		}
		reason = string(p[2:])
		p = p[:2]
	}
	// Answer with the same code (or none), unless our close frame went
	// first and this is the answer to it.
	c.nc.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	c.wmu.Lock()
	if !c.closeSent {
		c.closeSent = true
		c.writeFrameLocked(OpClose, p)
	}
	c.wmu.Unlock()
	c.resetRead()
	if c.role == RoleClient {
		// RFC 6455 section 7.1.1: the server closes the TCP connection
		// first; wait for it, boundedly.
		c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
		for {
			if _, err := c.nc.Read(c.small[:]); err != nil {
				break
			}
		}
	}
	c.closeNC()
	return &CloseError{Code: code, Reason: reason}
}

// lingerClose closes the connection after a close frame we sent to fail
// it, once the peer has closed its side or the close timeout has passed.
func (c *Conn) lingerClose() {
	if c.ncClosed.Load() {
		return
	}
	// Half-close, then read and discard until the peer closes too, or
	// the close timeout passes. Closing with unread bytes in the socket
	// would send a reset, and a reset makes the peer's kernel throw away
	// what it had not read yet: our close frame among it.
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
	bp := getBuf(lingerBuf)
	for {
		if _, err := c.nc.Read(*bp); err != nil {
			break
		}
	}
	putBuf(bp)
	c.closeNC()
}

// lingerBuf is the size of the buffer that drains a failed connection.
const lingerBuf = 16 << 10

// sendClose writes a close frame with code and reason unless one has been
// sent. It reports whether this call sent it.
func (c *Conn) sendClose(code int, reason string) (bool, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return false, nil
	}
	c.closeSent = true
	var buf [2 + MaxControlPayload - 2]byte
	p := buf[:0]
	if code != 0 {
		p = binary.BigEndian.AppendUint16(p, uint16(code))
		p = append(p, truncateUTF8(reason, MaxControlPayload-2)...)
	}
	return true, c.writeFrameLocked(OpClose, p)
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Close runs the closing handshake: it sends a close frame with code and
// reason (cut to 123 bytes at a UTF-8 boundary; code 0 sends a close frame
// without a code), then waits for the peer's close frame, discarding data
// messages that arrive meanwhile and reporting their number as unread, and
// closes the connection. A server closes the TCP connection as soon as the
// peer's close frame arrives; a client waits for the server to close it.
// All of it is bounded by the close timeout.
//
// Close returns a nil error when the peer answered with its close frame,
// else why it did not: a *CloseError with code CloseAbnormal if the stream
// ended, a *ProtocolError, or a timeout error. A code that may not be sent
// (see ValidCloseCode) returns ErrInvalidCloseCode and changes nothing.
//
// Close may be called while another goroutine is blocked in ReadMessage:
// that reader then does the waiting and returns ErrClosed. Calling Close
// again, or after the connection has ended, returns ErrClosed. A payload
// returned by the last ReadMessage stays intact.
func (c *Conn) Close(code int, reason string) (unread int, err error) {
	if code != 0 && !ValidCloseCode(code) {
		return 0, ErrInvalidCloseCode
	}
	c.mu.Lock()
	if c.closing || c.readErr != nil {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.closing = true
	active := c.reading
	if active {
		c.done = make(chan struct{})
	} else {
		c.reading = true
	}
	c.mu.Unlock()

	deadline := time.Now().Add(c.closeTimeout)
	c.nc.SetReadDeadline(deadline)
	c.nc.SetWriteDeadline(deadline)
	_, werr := c.sendClose(code, reason)
	if werr != nil {
		c.closeNC()
	}

	if active {
		t := time.NewTimer(c.closeTimeout + closeGrace)
		select {
		case <-c.done:
		case <-t.C:
			c.closeNC()
			<-c.done
		}
		t.Stop()
		c.closeNC()
		c.mu.Lock()
		unread, err = c.unread, c.result
		c.mu.Unlock()
		if werr != nil {
			err = werr
		}
		return unread, err
	}

	if c.msgHeld {
		c.abandonMessage()
	}
	if werr == nil {
		for {
			_, _, err = c.next()
			if err != nil {
				break
			}
			unread++
		}
		err = closeResult(err)
	} else {
		err = werr
	}
	c.closeNC()
	c.mu.Lock()
	c.resetRead()
	c.readErr = ErrClosed
	c.reading = false
	c.mu.Unlock()
	return unread, err
}

// closeResult maps the error that ended reading during a closing
// handshake to Close's result: nil when the peer's close frame arrived.
func closeResult(err error) error {
	var ce *CloseError
	if errors.As(err, &ce) && ce.Code != CloseAbnormal {
		return nil
	}
	return err
}

// CloseNow closes the network connection at once, without a closing
// handshake; use it for a peer that is gone or unresponsive. A blocked
// ReadMessage returns ErrClosed. Later calls return ErrClosed.
func (c *Conn) CloseNow() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	return c.closeNC()
}
