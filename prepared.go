package pistoke

import (
	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// A broadcast (package groups) writes to connections through the
// broadcast package, which these functions fill in.
func init() {
	broadcast.SendBatch = func(c any, ms []*wire.PreparedMessage) error {
		return c.(*Conn).sendBatch(ms, false)
	}
	broadcast.TrySendBatch = func(c any, ms []*wire.PreparedMessage) error {
		return c.(*Conn).sendBatch(ms, true)
	}
	broadcast.DropSlow = func(c any, why string) { c.(*Conn).dropSlow(why) }
}

// sendBatch sends messages encoded once for many connections, in order,
// with one system call where the connection allows it. With try, it sends
// nothing and returns wire.ErrWouldBlock unless the connection can take
// them all without waiting.
func (c *Conn) sendBatch(ms []*wire.PreparedMessage, try bool) error {
	if len(ms) == 0 {
		return nil
	}
	c.start()
	st := c.stats
	if st != nil && !c.enterSend(st) {
		return c.ended()
	}
	var err error
	if try {
		err = c.wc.TryWritePreparedBatch(ms)
	} else if len(ms) == 1 {
		err = c.wc.WritePrepared(ms[0])
	} else {
		err = c.wc.WritePreparedBatch(ms)
	}
	if st != nil {
		st.leaveSend()
	}
	if err == wire.ErrWouldBlock {
		return err
	}
	if err != nil {
		return c.end(err)
	}
	if st != nil {
		for _, m := range ms {
			st.sent(MessageType(m.Opcode()), len(m.Payload()))
		}
	}
	return nil
}
