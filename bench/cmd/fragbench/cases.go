package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

// The WebSocket opcodes the client sends.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// shape is how a case splits its message into frames.
type shape int

const (
	oneFrame    shape = iota // the whole payload in one frame
	byteFrames               // one frame per payload byte
	emptyFrames              // an empty opening frame, size empty continuations, a final 1-byte frame
)

// msgCase is one way of sending a message, measured on its own.
type msgCase struct {
	name  string // in flags, progress and profile file names
	text  bool   // a text message, else binary
	shape shape
	base  string // the one-frame case it is compared with; "" for a one-frame case
}

// cases are every case, in the order the rounds run them and the report
// lists them.
var cases = []msgCase{
	{name: "binary-one-frame", shape: oneFrame},
	{name: "binary-byte-frames", shape: byteFrames, base: "binary-one-frame"},
	{name: "binary-empty-frames", shape: emptyFrames, base: "binary-one-frame"},
	{name: "text-one-frame", text: true, shape: oneFrame},
	{name: "text-byte-frames", text: true, shape: byteFrames, base: "text-one-frame"},
}

// caseNames returns the names of cases, comma-separated.
func caseNames(cs []msgCase) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return strings.Join(names, ",")
}

// lookupCase returns the case called name.
func lookupCase(name string) (msgCase, error) {
	for _, c := range cases {
		if c.name == name {
			return c, nil
		}
	}
	return msgCase{}, fmt.Errorf("unknown case %q (want one of %s)", name, caseNames(cases))
}

// opcode returns the opcode of the case's opening frame.
func (c msgCase) opcode() byte {
	if c.text {
		return opText
	}
	return opBinary
}

// tag is the letter the server's answer starts with for the case's
// message type.
func (c msgCase) tag() byte {
	if c.text {
		return 't'
	}
	return 'b'
}

// payloadSize returns the payload bytes of the case's message, for a
// message of size bytes.
func (c msgCase) payloadSize(size int) int {
	if c.shape == emptyFrames {
		return 1
	}
	return size
}

// frames returns how many frames the case's message takes.
func (c msgCase) frames(size int) int {
	switch c.shape {
	case byteFrames:
		return size
	case emptyFrames:
		return size + 2
	}
	return 1
}

// headerLen returns the length of a masked frame header for a payload of
// n bytes: 2 bytes, the extended length if any, and the 4-byte mask key.
func headerLen(n int) int {
	switch {
	case n <= 125:
		return 6
	case n <= 0xFFFF:
		return 8
	}
	return 14
}

// wireSize returns the bytes of the case's message on the wire, every
// frame's header, mask key and payload.
func (c msgCase) wireSize(size int) int {
	switch c.shape {
	case byteFrames:
		return 7 * size
	case emptyFrames:
		return 6*(size+1) + 7
	}
	return headerLen(size) + size
}

// makePayload returns n bytes to send: random bytes for a binary
// message, random ASCII letters for a text one.
func makePayload(n int, text bool, r *rand.Rand) []byte {
	p := make([]byte, n)
	for i := range p {
		if text {
			p[i] = 'a' + byte(r.IntN(26))
		} else {
			p[i] = byte(r.Uint32())
		}
	}
	return p
}

// appendFrame appends a masked client frame to b: fin, opcode op, the
// payload p masked with key.
func appendFrame(b []byte, fin bool, op byte, key uint32, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	n := len(p)
	switch {
	case n <= 125:
		b = append(b, b0, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, b0, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = binary.LittleEndian.AppendUint32(b, key)
	for i, x := range p {
		b = append(b, x^byte(key>>(8*(i&3))))
	}
	return b
}

// build returns the payload of the case's message of size bytes and the
// masked frames that carry it, each frame with a mask key of its own.
// The same seed gives the same message.
func (c msgCase) build(size int, seed uint64) (payload, stream []byte) {
	r := rand.New(rand.NewPCG(seed, 0x66726167))
	payload = makePayload(c.payloadSize(size), c.text, r)
	stream = make([]byte, 0, c.wireSize(size))
	switch c.shape {
	case oneFrame:
		stream = appendFrame(stream, true, c.opcode(), r.Uint32(), payload)
	case byteFrames:
		for i := range payload {
			op := byte(opContinuation)
			if i == 0 {
				op = c.opcode()
			}
			stream = appendFrame(stream, i == len(payload)-1, op, r.Uint32(), payload[i:i+1])
		}
	case emptyFrames:
		stream = appendFrame(stream, false, c.opcode(), r.Uint32(), nil)
		for range size {
			stream = appendFrame(stream, false, opContinuation, r.Uint32(), nil)
		}
		stream = appendFrame(stream, true, opContinuation, r.Uint32(), payload)
	}
	if len(stream) != c.wireSize(size) {
		panic(fmt.Sprintf("%s: built %d wire bytes, want %d", c.name, len(stream), c.wireSize(size)))
	}
	return payload, stream
}
