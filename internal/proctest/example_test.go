package proctest_test

import (
	"fmt"

	"github.com/pistoke/pistoke/internal/proctest"
)

// A server says where it listens on its first line; the test waits for
// that line while the process goes on writing.
func ExampleBuffer_FirstLine() {
	stdout := new(proctest.Buffer) // a cmd.Stdout, written by the process
	go fmt.Fprint(stdout, "serving on http://127.0.0.1:8080\nready\n")

	fmt.Println(<-stdout.FirstLine())
	// Output:
	// serving on http://127.0.0.1:8080
}
