package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/bench/internal/harness"
)

// sinkPath is where the server reads messages.
const sinkPath = "/sink/"

// readLimit is the protocol's ReadLimit: room for a 1 MiB message in
// one-byte frames, whose headers take 6 MiB.
const readLimit = 8 << 20

// stats is the server's answer to GET /stats: cumulative counters that a
// client subtracts across its measured phase.
type stats struct {
	harness.Usage
	Messages     int64 `json:"messages"`      // messages the socket handlers received
	PayloadBytes int64 `json:"payload_bytes"` // and their payload bytes
}

// counters are what the socket handlers count.
type counters struct {
	messages atomic.Int64
	bytes    atomic.Int64
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fragbench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profileDir := fs.String("profiledir", "", "directory for profiles requested over the control listener")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cnt counters
	ctl := harness.NewControl(*profileDir, "server", func(u harness.Usage) any {
		return stats{Usage: u, Messages: cnt.messages.Load(), PayloadBytes: cnt.bytes.Load()}
	})
	if err := harness.Serve(os.Stdin, stdout, sinkHandler(&cnt), ctl); err != nil {
		fmt.Fprintln(stderr, "fragbench server:", err)
		return 1
	}
	return 0
}

// sinkHandler is the server under test: pistoke.Handler, meant to be the
// http.Server's handler, around a ServeMux whose socket route reads
// messages under a protocol with an 8 MiB read limit, and answers each
// with its type and length ("b1048576", "t1048576").
func sinkHandler(cnt *counters) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET "+sinkPath, pistoke.Protocol{ReadLimit: readLimit}.Wrap(pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		var ack []byte
		for typ, p := range ws.Messages() {
			cnt.messages.Add(1)
			cnt.bytes.Add(int64(len(p)))
			tag := byte('b')
			if typ == pistoke.Text {
				tag = 't'
			}
			ack = strconv.AppendInt(append(ack[:0], tag), int64(len(p)), 10)
			if err := ws.Send(pistoke.Text, ack); err != nil {
				return err
			}
		}
		return ws.Err()
	})))
	return pistoke.Handler(mux, pistoke.Options{Logger: quietLog})
}

// quietLog keeps per-connection events (opened, closed) out of the
// benchmark's output.
var quietLog = harness.Logger(slog.LevelWarn)
