package pistoke

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// MessageType is the type of a WebSocket data message.
type MessageType int

// The two kinds of data message.
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

func (t MessageType) String() string {
	switch t {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Conn is an open WebSocket connection, on the server side (given to a
// socket handler) or the client side (returned by [Dial]).
//
// One goroutine at a time may receive; any number may send at once.
// Messages returned by Receive are valid until the next Receive: copy
// them to keep them longer.
//
// The socket is read only while someone receives: Receive itself, or a
// reader that pistoke starts the first time the handler looks at its
// context (Done or Err). Reading is what answers the peer's pings and
// notices that it has gone, so a handler that only sends should wait on
// ws.Context().Done() alongside its other work, as a push loop does:
//
//	for {
//		select {
//		case <-ws.Context().Done():
//			return nil
//		case ev := <-updates:
//			if err := ws.SendJSON(ev); err != nil {
//				return err
//			}
//		}
//	}
type Conn struct {
	wc    *wire.Conn
	req   *http.Request
	sub   string
	codec Codec
	log   *slog.Logger
	ctx   *connContext
	stats *connStats // server side only

	done   chan struct{} // closed when the connection has ended
	endErr error         // why it ended; guarded by mu

	// rstate says who reads the socket: nobody, a Receive directly, or
	// the watcher goroutine for good. Atomics keep the common path, a
	// handler that only receives, free of locks.
	rstate    atomic.Int32
	wantWatch atomic.Bool // someone looked at the context

	// The 101 response waits in pending until the handler first uses the
	// connection, so that what it sets up before (joining a group) is in
	// place when the client's dial returns.
	unsent     atomic.Bool
	pmu        sync.Mutex
	pending    []byte
	cancelTree context.CancelFunc // cancels the handler tree's context at the end

	mu      sync.Mutex
	onClose []func()     // run when the connection ends; nil after
	inbox   chan inbound // set under mu when watching starts
	closed  bool         // Close or finish has run
	iterErr error
}

// Values of Conn.rstate.
const (
	readIdle int32 = iota
	readDirect
	readWatching
)

type inbound struct {
	typ MessageType
	p   []byte
	err error
}

func newConn(wc *wire.Conn, r *http.Request, sub string, codec Codec, log *slog.Logger) *Conn {
	c := &Conn{wc: wc, sub: sub, codec: codec, log: log, done: make(chan struct{})}
	parent := context.Background()
	if r != nil {
		parent = r.Context()
	}
	c.ctx = &connContext{parent: parent, c: c}
	if r != nil {
		c.req = r.WithContext(c.ctx)
	}
	return c
}

// start sends the handshake's 101 response unless it has gone already.
// Every use of the connection calls it first.
func (c *Conn) start() {
	if c.unsent.Load() {
		c.sendResponse()
	}
}

func (c *Conn) sendResponse() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.pending == nil {
		return
	}
	nc := c.wc.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(handshakeWriteTimeout))
	_, err := nc.Write(c.pending)
	_ = nc.SetWriteDeadline(time.Time{})
	c.pending = nil
	c.unsent.Store(false)
	if err != nil {
		c.end(err)
	}
}

// handshakeWriteTimeout bounds the write of the 101 response.
const handshakeWriteTimeout = 10 * time.Second

// Request returns the handshake request as it reached the socket handler:
// its URL and path values, headers and cookies, remote address and TLS
// state, and every value middleware put in its context (session, user,
// CSRF token), with the connection's context. It lives as long as the
// socket, which is why [Options.MaxHeaderBytes] bounds its headers (16 KiB
// by default). Its body is empty: a handshake with a body is refused. Nil
// on the client side.
func (c *Conn) Request() *http.Request { return c.req }

// Context returns the connection's context. It is cancelled when the
// connection ends, in particular when the client goes away.
func (c *Conn) Context() context.Context { return c.ctx }

// Subprotocol returns the subprotocol chosen in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.sub }

// NetConn returns the underlying network connection, for its addresses;
// reading or writing it corrupts the WebSocket stream.
func (c *Conn) NetConn() net.Conn { return c.wc.NetConn() }

// Receive waits for the next message. The returned bytes are valid until
// the next call to Receive. When the connection ends, Receive returns an
// error matching [ErrClosed], a [*CloseError] telling how it ended.
func (c *Conn) Receive() (MessageType, []byte, error) {
	c.start()
	if !c.rstate.CompareAndSwap(readIdle, readDirect) {
		return c.receiveQueued()
	}
	op, p, err := c.wc.ReadMessage()
	if err != nil {
		err = c.end(err)
	} else if c.stats != nil {
		c.stats.received(MessageType(op), len(p))
	}
	c.rstate.Store(readIdle)
	if c.wantWatch.Load() && err == nil {
		c.tryWatch()
	}
	return MessageType(op), p, err
}

// receiveQueued receives from the watcher goroutine.
func (c *Conn) receiveQueued() (MessageType, []byte, error) {
	c.mu.Lock()
	inbox := c.inbox
	c.mu.Unlock()
	if inbox == nil {
		return 0, nil, errors.New("pistoke: Receive called concurrently")
	}
	m, ok := <-inbox
	if !ok {
		return 0, nil, c.ended()
	}
	return m.typ, m.p, m.err
}

// Messages returns an iterator over incoming messages, for use with
// range. Each message's bytes are valid until the next iteration. The
// iteration ends when the connection does; [Conn.Err] then says whether
// that was an error.
func (c *Conn) Messages() iter.Seq2[MessageType, []byte] {
	return func(yield func(MessageType, []byte) bool) {
		for {
			typ, p, err := c.Receive()
			if err != nil {
				var ce *CloseError
				if errors.As(err, &ce) && normalClose(ce.Code) {
					err = nil
				}
				c.mu.Lock()
				c.iterErr = err
				c.mu.Unlock()
				return
			}
			if !yield(typ, p) {
				return
			}
		}
	}
}

// Err returns the error that ended the last iteration of Messages, or nil
// when the peer closed the connection normally (codes 1000, 1001, or no
// code) or the loop was left early.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.iterErr
}

func normalClose(code int) bool {
	return code == CloseNormal || code == CloseGoingAway || code == CloseNoStatus
}

// Send sends one message. Text must be valid UTF-8. Send is safe for
// concurrent use.
func (c *Conn) Send(typ MessageType, p []byte) error {
	switch typ {
	case Text:
		if !utf8.Valid(p) {
			return errInvalidUTF8
		}
	case Binary:
	default:
		return errors.New("pistoke: Send: message type must be Text or Binary")
	}
	c.start()
	st := c.stats
	if st == nil {
		if err := c.wc.WriteMessage(wire.Opcode(typ), p); err != nil {
			return c.end(err)
		}
		return nil
	}
	if !c.enterSend(st) {
		return c.ended()
	}
	err := c.wc.WriteMessage(wire.Opcode(typ), p)
	st.leaveSend()
	if err != nil {
		return c.end(err)
	}
	st.sent(typ, len(p))
	return nil
}

// enterSend counts a send that is about to wait for the connection's
// writer, applying the SendQueue bound; false means the connection was
// dropped as a slow consumer.
func (c *Conn) enterSend(st *connStats) bool {
	if n := st.sending.Add(1); st.srv.sendQueue > 0 && n > st.srv.sendQueue {
		st.sending.Add(-1)
		c.dropSlow("more than " + strconv.Itoa(int(st.srv.sendQueue)) + " sends waiting")
		return false
	}
	return true
}

// leaveSend records that a send is over, for the stalled-write check.
func (st *connStats) leaveSend() {
	st.wseq.Add(1)
	st.sending.Add(-1)
}

var errInvalidUTF8 = broadcast.ErrInvalidUTF8

// SendText sends s as a text message.
func (c *Conn) SendText(s string) error {
	return c.Send(Text, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// SendBinary sends p as a binary message.
func (c *Conn) SendBinary(p []byte) error { return c.Send(Binary, p) }

// Close closes the connection with code and reason, waiting a bounded
// time for the peer's answer. Messages that arrive meanwhile are
// discarded. A handler need not call Close: returning does it.
func (c *Conn) Close(code int, reason string) error {
	_, err := c.close(code, reason)
	return err
}

// close runs the closing handshake once and reports how many data
// messages were never read.
func (c *Conn) close(code int, reason string) (unread int, err error) {
	c.start()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.closed = true
	c.mu.Unlock()
	// Cancel the context first, so that a drain's 1001 reaches handlers
	// at once, while the closing handshake still runs.
	c.end(&CloseError{Code: code, Reason: reason})
	n, err := c.wc.Close(code, reason)
	c.mu.Lock()
	n += len(c.inbox)
	c.mu.Unlock()
	if errors.Is(err, wire.ErrClosed) {
		err = nil
	}
	return n, err
}

// OnClose arranges for f to run, in a goroutine of its own, once the
// connection has ended, whoever ended it; at once if it already has. Use
// it to release what the connection held (a group membership, a presence
// entry) without a goroutine waiting on the context.
func (c *Conn) OnClose(f func()) {
	c.mu.Lock()
	if c.endErr == nil {
		c.onClose = append(c.onClose, f)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go f()
}

// isOpen reports whether the connection has not ended yet.
func (c *Conn) isOpen() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// end records why the connection ended (the first reason wins), cancels
// its context and returns the error callers should see.
func (c *Conn) end(err error) error {
	e, _ := c.endOnce(err)
	return e
}

// endOnce is end that also reports whether err was the first reason.
func (c *Conn) endOnce(err error) (error, bool) {
	c.mu.Lock()
	first := c.endErr == nil
	if first {
		c.endErr = mapError(err)
		if c.stats != nil && c.stats.closeBy == "" {
			c.stats.closeBy = closedBy(err)
		}
		close(c.done)
	}
	endErr := c.endErr
	var hooks []func()
	if first {
		hooks, c.onClose = c.onClose, nil
	}
	c.mu.Unlock()
	if first && c.cancelTree != nil {
		c.cancelTree()
	}
	for _, f := range hooks {
		go f()
	}
	if first && brokenConn(err) {
		// The engine closes the connection after a closing handshake or a
		// protocol error; after a failed read or write nobody else will.
		_ = c.wc.CloseNow()
	}
	return endErr, first
}

// brokenConn reports whether err is an I/O failure rather than the end of
// a closing handshake, or the sign of a Close under way (wire.ErrClosed),
// which must be left to finish.
func brokenConn(err error) bool {
	var (
		ce *wire.CloseError
		pe *wire.ProtocolError
		me *CloseError
	)
	return !errors.As(err, &ce) && !errors.As(err, &pe) && !errors.As(err, &me) && !errors.Is(err, wire.ErrClosed)
}

// ended returns why the connection ended, or nil while it is open.
func (c *Conn) ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

func mapError(err error) error {
	var (
		ce *wire.CloseError
		pe *wire.ProtocolError
		me *CloseError
	)
	switch {
	case errors.As(err, &me):
		return me
	case errors.As(err, &ce):
		return &CloseError{Code: ce.Code, Reason: ce.Reason}
	case errors.As(err, &pe):
		return &CloseError{Code: pe.Code, Reason: pe.Reason}
	}
	return &CloseError{Code: CloseAbnormal, Reason: err.Error(), cause: err}
}

// tryWatch hands reading to a goroutine, unless it has it already or a
// Receive is reading, so that the connection's context learns of a
// departed client while the handler does something else.
func (c *Conn) tryWatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.endErr != nil || !c.rstate.CompareAndSwap(readIdle, readWatching) {
		return
	}
	// The handler may still use the message it received last.
	c.wc.KeepMessage()
	c.inbox = make(chan inbound, watchQueue)
	go c.watch(c.inbox)
}

// watchQueue bounds how many messages a watching connection reads ahead
// of the handler; past it, TCP flow control holds the client back.
const watchQueue = 16

func (c *Conn) watch(inbox chan inbound) {
	defer close(inbox)
	for {
		op, p, err := c.wc.ReadMessage()
		if err != nil {
			c.end(err)
			return
		}
		if c.stats != nil {
			c.stats.received(MessageType(op), len(p))
		}
		select {
		case inbox <- inbound{typ: MessageType(op), p: clone(p)}:
		case <-c.done:
			return
		}
	}
}

// needWatch is called when someone looks at the context: from then on a
// departed client must cancel it even while nobody receives. A Receive
// under way starts the watcher when it returns.
func (c *Conn) needWatch() {
	c.start()
	if c.wantWatch.Load() {
		return
	}
	c.wantWatch.Store(true)
	c.tryWatch()
}

func clone(p []byte) []byte { return append([]byte(nil), p...) }

// connContext is the context of a connection. It carries the values of
// the handshake request's context and is cancelled when the connection
// ends. Reading the socket is what reveals that a client has gone, so the
// first look at Done or Err starts a reader for when the handler is not
// receiving itself; a handler that only ever receives costs no goroutine.
type connContext struct {
	parent context.Context
	c      *Conn
}

func (x *connContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *connContext) Done() <-chan struct{} {
	x.c.needWatch()
	return x.c.done
}

func (x *connContext) Err() error {
	x.c.needWatch()
	if x.c.isOpen() {
		return nil
	}
	return context.Canceled
}

func (x *connContext) Value(key any) any { return x.parent.Value(key) }

func (x *connContext) String() string { return "pistoke.Conn.Context" }
