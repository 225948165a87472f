package pistoke

import "net/http"

// ViewHandler is a type that serves a route's HTTP methods and its
// WebSocket connections: a page and its live channel in one place.
type ViewHandler interface {
	http.Handler
	ServeWebsocket(ws *Conn) error
}

// View returns a handler that sends handshakes to v.ServeWebsocket and
// every other request to v.ServeHTTP. When v also has a method
// WebsocketProtocol() Protocol, its sockets open under that protocol
// instead of the default one. Register it for all methods of the route:
//
//	mux.Handle("/room/", pistoke.View(&roomView{}))
func View(v ViewHandler) http.Handler {
	var p Protocol
	if pv, ok := v.(interface{ WebsocketProtocol() Protocol }); ok {
		p = pv.WebsocketProtocol()
	}
	ws := p.Wrap(HandlerFunc(v.ServeWebsocket))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebsocket(r) {
			ws.ServeHTTP(w, r)
			return
		}
		v.ServeHTTP(w, r)
	})
}
