package main

import (
	"sync"

	"github.com/pistoke/pistoke"
)

// message is what the reload socket sends to pages, as JSON:
//
//	{"type":"hello","version":"…","error":"…"}  on connecting: the current state
//	{"type":"reload","version":"…"}             the program restarted, or a static file changed
//	{"type":"css","version":"…"}                only stylesheets changed
//	{"type":"error","error":"…"}                the build (or the program) failed
type message struct {
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

// hub keeps the open reload sockets and the version each page knows,
// so that a page never hears of a version twice (its hello may already
// carry the version of a restart being announced).
type hub struct {
	hello func() message

	// mu orders each socket's messages: its hello, then broadcasts.
	mu    sync.Mutex
	conns map[*pistoke.Conn]string
}

func newHub(hello func() message) *hub {
	return &hub{hello: hello, conns: make(map[*pistoke.Conn]string)}
}

// serve is the reload socket's handler: it sends the state, then keeps
// the socket until the page goes.
func (h *hub) serve(ws *pistoke.Conn) error {
	h.mu.Lock()
	hello := h.hello()
	h.conns[ws] = hello.Version
	err := ws.SendJSON(hello)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, ws)
		h.mu.Unlock()
	}()
	if err != nil {
		return nil
	}
	for range ws.Messages() {
	}
	return nil
}

// broadcast sends m to every open page that does not know it yet. The
// sockets are local and the messages small, so sending under the lock
// does not hold it for long.
func (h *hub) broadcast(m message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, known := range h.conns {
		if m.Version != "" {
			if m.Version == known {
				continue
			}
			h.conns[c] = m.Version
		}
		_ = c.SendJSON(m)
	}
}
