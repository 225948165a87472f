// Command fragbench measures what reading a fragmented message costs a
// pistoke server, against the same payload in one frame, on loopback
// only.
//
// The question it answers is whether a message in many small frames
// costs the server about what its bytes on the wire are worth: a message
// of tiny or empty fragments takes many more wire bytes than its
// payload, and each frame has a header to parse and a mask to apply, but
// reading it should cost no more per wire byte than reading one large
// frame does, within a small factor. The goal checked is server CPU per
// wire byte within 2× of the same payload in one frame.
//
// # Cases
//
// Each case is one message of -size bytes (1 MiB by default), sent as
// masked client frames, over and over on one connection:
//
//	binary-one-frame     a binary message in one frame: -size payload bytes
//	                     after a 14-byte header (2 + 8 length + 4 mask)
//	binary-byte-frames   the same payload in -size frames of one byte each
//	                     (an opening binary frame, then continuation
//	                     frames): 2 header + 4 mask + 1 payload byte a
//	                     frame, 7 MiB on the wire for 1 MiB
//	binary-empty-frames  an empty opening binary frame, then -size empty
//	                     continuation frames, then a final continuation
//	                     frame of one byte: 1 payload byte in 6 MiB + 13
//	                     bytes on the wire
//	text-one-frame       as binary-one-frame, with a text message of
//	                     random ASCII letters
//	text-byte-frames     as binary-byte-frames, with that text message
//
// The fragmented cases are compared, per wire byte and per message, with
// the one-frame case of their type: binary-empty-frames, whose payload
// is a single byte, with binary-one-frame.
//
// # How it measures
//
// The server, in a process of its own, is pistoke.Handler as the
// http.Server's handler around an http.ServeMux with the route
// "WEBSOCKET /sink/" under pistoke.Protocol{ReadLimit: 8 << 20}. Its
// socket handler loops on Receive and answers each message with a tiny
// text message, its type and length ("b1048576"), so that the client
// knows the whole message was read.
//
// The client, another process, opens one connection with a handshake of
// its own over plain TCP, builds the masked byte stream of one message
// once, and then, for each message, writes the whole stream with one
// Write (the kernel takes it in socket-buffer-sized pieces) and waits
// for the answer. It checks the answer's type and length. A few messages
// (-warmup) go unmeasured first; then the client reads the server's CPU
// time (user + system, from the server's own getrusage), allocations and
// read system calls over a control listener, sends -msgs messages, and
// reads them again. The report divides the differences by the messages,
// by their wire bytes (every byte of every frame: headers, masks and
// payload) and by their payload bytes. Wall-clock time is not used, so
// a client slower than the server shows up as a server that idles, not
// as a dearer message; the report says how busy the server was, and the
// client's own CPU per message.
//
// The server is pinned to CPU 0 and the client to CPU 1 with taskset
// when it is there (-pin), so the server's Go runtime runs with
// GOMAXPROCS 1. Each case runs in a fresh server process per round;
// rounds go through every case in turn (-rounds, 5 by default), and the
// report gives medians over the rounds. As a second opinion on a ratio,
// it also gives the median of the per-round ratios, each fragmented
// round over the one-frame round of the same pass, which ran within
// seconds of it.
//
// # Running it
//
//	cd bench
//	go run ./cmd/fragbench            # everything, a few minutes on 2 cores
//	go run ./cmd/fragbench -quick     # smoke run: 64 KiB messages, seconds
//	go run ./cmd/fragbench -h         # all flags
//
// Useful flags: -rounds, -msgs (measured messages per case and round, 100
// by default), -warmup, -size (at most 1 MiB, so that the frame headers of
// byte-frames, 6 bytes for each payload byte, stay within the 8 MiB that
// ReadLimit 8 MiB allows a message's headers), -cases (a comma-separated
// subset), -pin=false.
//
// -profile DIR adds, after the measurements, one profiled session per
// case and leaves a CPU profile of its measured phase in
// DIR/<case>-cpu.pprof, for go tool pprof -top.
//
// go test ./cmd/fragbench runs the smoke mode end to end, in processes of
// its own.
//
// The subcommands server and client are the processes the report is made
// of; the harness starts them itself.
package main
