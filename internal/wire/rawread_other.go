//go:build !unix

package wire

// rawReads is false where reading the descriptor directly is not
// portable: idle sockets are then read through net.Conn.Read with the
// connection's small array, and a buffer is borrowed once bytes arrive.
const rawReads = false

// rawRead is never called when rawReads is false.
func (c *Conn) rawRead(uintptr) bool { panic("wire: raw reads are not supported on this platform") }
