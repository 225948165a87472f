package devserver

import "strconv"

// events renders the events the dev server knows as sentences. Each
// renderer takes the attributes it shows; the others follow as key=value.
var events = map[string]func(*line){
	RequestMessage: func(l *line) {
		method, _ := l.str("method")
		l.paint(bold, method)
		l.word("path", "")
		status, ok := l.int("status")
		if ok {
			l.statusCode(status)
		}
		if size, ok := l.int("size"); ok && status != 101 {
			l.text(" " + formatSize(size))
		}
		l.word("duration", dim)
	},
	"pistoke: socket opened": func(l *line) {
		l.text("socket opened")
		l.word("path", "")
		if v, ok := l.take("compressed"); ok && v.Bool() {
			l.text(" compressed")
		}
		if sub, ok := l.str("subprotocol"); ok && sub != "" {
			l.text(" subprotocol " + sub)
		}
		if remote, ok := l.str("remote"); ok {
			l.text(" from ")
			l.paint(dim, remote)
		}
	},
	"pistoke: socket closed": func(l *line) {
		l.text("socket closed")
		l.word("path", "")
		if code, ok := l.int("code"); ok {
			c := green
			if code != 1000 && code != 1001 {
				c = yellow
			}
			l.text(" ")
			l.paint(c, strconv.FormatInt(code, 10))
		}
		if reason, ok := l.str("reason"); ok && reason != "" {
			l.text(" " + strconv.Quote(reason))
		}
		if by, ok := l.str("by"); ok {
			l.text(" by " + by)
		}
		if d, ok := l.take("duration"); ok {
			l.text(" after " + formatValue(d))
		}
		in, okIn := l.int("messages_in")
		out, okOut := l.int("messages_out")
		bin, _ := l.int("bytes_in")
		bout, _ := l.int("bytes_out")
		if okIn && okOut {
			l.text(", " + strconv.FormatInt(in, 10) + " in (" + formatSize(bin) + "), " +
				strconv.FormatInt(out, 10) + " out (" + formatSize(bout) + ")")
		}
	},
	"pistoke: handshake refused": func(l *line) {
		l.text("handshake refused")
		l.word("path", "")
		l.status("status")
		if reason, ok := l.str("reason"); ok {
			l.text(": " + reason)
		}
		if outcome, ok := l.str("outcome"); ok {
			l.text(" ")
			l.paint(dim, "("+outcome+")")
		}
	},
	"pistoke: handshake answered 405 Method Not Allowed": func(l *line) {
		l.text("handshake answered 405")
		l.word("path", "")
		if hint, ok := l.str("hint"); ok {
			l.text(": " + hint)
		}
	},
	"pistoke: handler failed": func(l *line) {
		l.text("socket handler failed")
		l.word("path", "")
		if err, ok := l.str("error"); ok {
			l.text(": ")
			l.paint(red, err)
		}
	},
	"pistoke: handler panicked": func(l *line) {
		l.text("socket handler panicked")
		l.word("path", "")
		if p, ok := l.str("panic"); ok {
			l.text(": ")
			l.paint(red, p)
		}
	},
	"pistoke: draining": func(l *line) {
		l.text("stopping: closing")
		if n, ok := l.int("sockets"); ok {
			l.text(" " + strconv.FormatInt(n, 10))
		}
		l.text(" sockets with 1001")
		if d, ok := l.take("timeout"); ok {
			l.text(" (waiting up to " + formatValue(d) + ")")
		}
	},
	"pistoke: drained": func(l *line) {
		l.text("stopped")
		if d, ok := l.take("duration"); ok {
			l.text(": every socket closed in " + formatValue(d))
		}
	},
}
