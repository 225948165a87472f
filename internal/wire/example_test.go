package wire_test

import (
	"fmt"

	"github.com/pistoke/pistoke/internal/memconn"
	"github.com/pistoke/pistoke/internal/wire"
)

// A client engine and a server engine on the two ends of a connection.
func Example() {
	a, b := memconn.Pipe()
	server := wire.NewConn(a, wire.Config{Role: wire.RoleServer})
	client := wire.NewConn(b, wire.Config{Role: wire.RoleClient})

	client.WriteMessage(wire.OpText, []byte("hello"))
	op, p, _ := server.ReadMessage()
	fmt.Println(op, string(p))

	go server.Close(wire.CloseNormal, "bye")
	_, _, err := client.ReadMessage()
	fmt.Println(err)
	// Output:
	// text hello
	// websocket: closed by peer with code 1000: "bye"
}
