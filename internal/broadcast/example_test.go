package broadcast_test

import (
	"fmt"

	"github.com/pistoke/pistoke/internal/broadcast"
	"github.com/pistoke/pistoke/internal/wire"
)

// A message is prepared once and then written to every member's
// connection with SendBatch or TrySendBatch.
func ExamplePrepare() {
	m, err := broadcast.Prepare(wire.OpText, []byte("hello, room"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %q\n", m.Opcode(), m.Payload())
	_, err = broadcast.Prepare(wire.OpText, []byte{0xff})
	fmt.Println(err)
	// Output:
	// text "hello, room"
	// pistoke: text message is not valid UTF-8
}
