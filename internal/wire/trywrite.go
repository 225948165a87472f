package wire

import (
	"errors"
	"net"
)

// ErrWouldBlock is returned by TryWritePreparedBatch when the connection
// cannot take the messages at once: nothing was written, and the caller
// sends them with WritePreparedBatch, which waits.
var ErrWouldBlock = errors.New("websocket: write would block")

// maxTryIov bounds the frames one non-blocking write hands the kernel, below
// every system's IOV_MAX; the frames beyond it go out with the rest of a
// partial write.
const maxTryIov = 512

// finishPartial writes rest, the frames a non-blocking write left unsent,
// and then releases wmu, which the caller holds and hands over: the peer
// has a partial frame, so no other write may come between.
func (c *Conn) finishPartial(rest net.Buffers) {
	defer c.wmu.Unlock()
	_, err := rest.WriteTo(c.nc)
	c.writeFailed(err)
}
