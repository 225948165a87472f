//go:build !linux

package wire

// TryWritePreparedBatch sends ms in order, as WritePreparedBatch does, if
// the connection can take them without waiting. On this platform it
// never can: it returns ErrWouldBlock, and the caller falls back to
// WritePreparedBatch on a goroutine that may wait.
func (c *Conn) TryWritePreparedBatch(ms []*PreparedMessage) error {
	if len(ms) == 0 {
		return nil
	}
	return ErrWouldBlock
}
