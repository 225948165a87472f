package pistoketest

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/internal/wire"
)

// Conn is the test's end of a connection. Its methods are not safe for
// concurrent use.
type Conn struct {
	ws      *wire.Conn
	sub     string
	obs     *observer
	timeout time.Duration
	closed  bool
}

// Subprotocol returns the subprotocol the handler chose, or "".
func (c *Conn) Subprotocol() string { return c.sub }

// Send sends a message of the given type. Unlike a server's sends, it
// does not check that text is UTF-8, so that tests can send what a
// broken client would.
func (c *Conn) Send(typ pistoke.MessageType, p []byte) error {
	if typ != pistoke.Text && typ != pistoke.Binary {
		return fmt.Errorf("pistoketest: Send: message type must be Text or Binary, not %v", typ)
	}
	if err := c.ws.WriteMessage(wire.Opcode(typ), p); err != nil {
		return closeError(err)
	}
	return nil
}

// SendText sends a text message.
func (c *Conn) SendText(s string) error { return c.Send(pistoke.Text, []byte(s)) }

// SendBinary sends a binary message.
func (c *Conn) SendBinary(p []byte) error { return c.Send(pistoke.Binary, p) }

// SendJSON sends v encoded as JSON in a text message.
func (c *Conn) SendJSON(v any) error {
	p, err := pistoke.JSON{}.Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(pistoke.Text, p)
}

// closeError turns the engine's report of how the connection ended into
// the *pistoke.CloseError a server's handler would see, keeping the I/O
// error behind an abnormal closure.
func closeError(err error) error {
	var (
		ce *wire.CloseError
		pe *wire.ProtocolError
	)
	switch {
	case errors.As(err, &ce):
		return &pistoke.CloseError{Code: ce.Code, Reason: ce.Reason}
	case errors.As(err, &pe):
		return &pistoke.CloseError{Code: pe.Code, Reason: pe.Reason}
	}
	return fmt.Errorf("%w: %w", &pistoke.CloseError{Code: pistoke.CloseAbnormal, Reason: err.Error()}, err)
}

// Receive waits, up to the client's Timeout, for the next message. The
// returned bytes are the test's to keep. When the handler has closed the
// connection it returns a *pistoke.CloseError with the code; after a
// timeout, an error matching ErrTimeout (the connection is then closed).
func (c *Conn) Receive() (pistoke.MessageType, []byte, error) {
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(c.timeout))
	op, p, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = c.ws.CloseNow()
			return 0, nil, fmt.Errorf("%w waiting for a message: %w", ErrTimeout, err)
		}
		return 0, nil, closeError(err)
	}
	return pistoke.MessageType(op), append([]byte(nil), p...), nil
}

// ReceiveText receives a message and returns it as a string; a binary
// message is an error.
func (c *Conn) ReceiveText() (string, error) {
	typ, p, err := c.Receive()
	if err != nil {
		return "", err
	}
	if typ != pistoke.Text {
		return "", fmt.Errorf("pistoketest: got a %v message, want text", typ)
	}
	return string(p), nil
}

// ReceiveJSON receives a message and decodes it into v; numbers decoded
// into interface values are json.Number.
func (c *Conn) ReceiveJSON(v any) error {
	_, p, err := c.Receive()
	if err != nil {
		return err
	}
	return pistoke.JSON{UseNumber: true}.Unmarshal(p, v)
}

// CloseCode waits for the handler to close the connection and returns the
// code and reason it closed with. Messages still coming are an error
// matching ErrOutputNotRead.
func (c *Conn) CloseCode() (int, string, error) {
	_, _, err := c.Receive()
	var ce *pistoke.CloseError
	if errors.As(err, &ce) && ce.Code != pistoke.CloseAbnormal {
		return ce.Code, ce.Reason, nil
	}
	if err == nil {
		return 0, "", fmt.Errorf("%w: a message came instead of the close", ErrOutputNotRead)
	}
	return 0, "", err
}

// Close ends the connection with 1000 (if the handler has not ended it
// already), waits for the handler to finish and reports how it went:
// the handler's error or panic as a *HandlerError, ErrInputNotRead when
// the handler left messages from the test unread, ErrOutputNotRead when
// the test left messages from the handler unread, ErrTimeout when the
// handler did not finish in time. Several are joined.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	_ = c.ws.NetConn().SetReadDeadline(time.Time{})
	unreadOut, _ := c.ws.Close(pistoke.CloseNormal, "")
	var errs []error
	select {
	case <-c.obs.done:
		r := c.obs.result
		var ce *pistoke.CloseError
		if r.Err != nil && !errors.As(r.Err, &ce) && !errors.Is(r.Err, pistoke.ErrClosed) {
			errs = append(errs, &HandlerError{Err: r.Err})
		}
		if r.Unread > 0 {
			errs = append(errs, fmt.Errorf("%w: %d message(s)", ErrInputNotRead, r.Unread))
		}
	case <-time.After(c.timeout):
		errs = append(errs, fmt.Errorf("%w waiting for the handler to finish", ErrTimeout))
	}
	if unreadOut > 0 {
		errs = append(errs, fmt.Errorf("%w: %d message(s)", ErrOutputNotRead, unreadOut))
	}
	return errors.Join(errs...)
}
