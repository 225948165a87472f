package main

import (
	"errors"
	"fmt"
)

// A published message is a chat line whose first bytes say which message
// it is and when it left:
//
//	0000000042 1733000000123456789 u42: lorem ipsum dolor sit amet...
//
// a 10-digit sequence number, the publisher's clock in Unix nanoseconds
// (19 digits), then text up to the message size. Fixed widths keep both
// writing and reading the header free of allocations.
const (
	seqDigits  = 10
	timeDigits = 19
	headerLen  = seqDigits + 1 + timeDigits + 1
)

// minSize is the smallest message that holds the header.
const minSize = headerLen

// chatText fills a message after its header.
const chatText = "u42: the build is green again, shipping the fix to staging after lunch; " +
	"ping me if the dashboards look odd. "

// messageTemplate returns a size-byte text message with room for the
// header at its start.
func messageTemplate(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = ' '
	}
	for i := headerLen; i < size; i++ {
		p[i] = chatText[(i-headerLen)%len(chatText)]
	}
	return p
}

// putHeader writes seq and the publish time t (Unix nanoseconds) at the
// start of p, which is at least headerLen bytes long.
func putHeader(p []byte, seq, t int64) {
	putDigits(p[:seqDigits], seq)
	p[seqDigits] = ' '
	putDigits(p[seqDigits+1:seqDigits+1+timeDigits], t)
	p[headerLen-1] = ' '
}

// putDigits writes v in decimal into all of p, zero-padded on the left.
func putDigits(p []byte, v int64) {
	for i := len(p) - 1; i >= 0; i-- {
		p[i] = byte('0' + v%10)
		v /= 10
	}
}

var errBadMessage = errors.New("not a benchmark message")

// parseHeader reads what putHeader wrote.
func parseHeader(p []byte) (seq, t int64, err error) {
	if len(p) < headerLen || p[seqDigits] != ' ' || p[headerLen-1] != ' ' {
		return 0, 0, fmt.Errorf("%w: %.40q", errBadMessage, p)
	}
	seq, ok1 := digits(p[:seqDigits])
	t, ok2 := digits(p[seqDigits+1 : seqDigits+1+timeDigits])
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: %.40q", errBadMessage, p)
	}
	return seq, t, nil
}

func digits(p []byte) (int64, bool) {
	var v int64
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
