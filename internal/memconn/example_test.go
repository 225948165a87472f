package memconn_test

import (
	"fmt"
	"io"

	"github.com/pistoke/pistoke/internal/memconn"
)

// Both ends may write before either reads, which would deadlock net.Pipe.
func ExamplePipe() {
	a, b := memconn.Pipe()
	defer a.Close()
	defer b.Close()
	a.Write([]byte("close from a"))
	b.Write([]byte("close from b"))
	buf := make([]byte, 12)
	io.ReadFull(b, buf)
	fmt.Println(string(buf))
	io.ReadFull(a, buf)
	fmt.Println(string(buf))
	// Output:
	// close from a
	// close from b
}
