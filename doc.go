// Package pistoke makes WebSocket endpoints ordinary net/http handlers.
//
// A WebSocket handshake wrapped by [Handler] travels the application's
// handler tree like any other request, with r.Method set to
// [MethodWebsocket]. The same router routes it, the same middleware
// (sessions, authentication, logging, CSRF) sees it, and the handler at
// the end of the chain talks to the browser through a [Conn]:
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /chat/{room}", chatPage)
//	mux.Handle("WEBSOCKET /chat/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
//		for typ, msg := range ws.Messages() {
//			if err := ws.Send(typ, msg); err != nil {
//				return err
//			}
//		}
//		return ws.Err()
//	}))
//	http.ListenAndServe(":8000", pistoke.Handler(sessions(mux), pistoke.Options{}))
//
// # Protocols and middleware order
//
// A [Protocol] decides how a connection opens (subprotocol negotiation,
// read limit, extra response headers) and performs the upgrade. It is
// also a middleware: anything outside it answers a refused handshake with
// a plain HTTP status, anything inside it runs after the client has been
// told the socket will open, so an error status written there closes the
// socket with code 4000+status (4403 for 403 Forbidden). A [HandlerFunc]
// that no protocol wraps gets the default protocol, Protocol{}.
//
// # Where a socket handler runs
//
// A socket handler runs inside the ServeHTTP of every router and
// middleware between Handler and itself, for as long as the socket
// lives: middleware code after next.ServeHTTP runs when the socket
// closes, and nothing a router pools per request is reused meanwhile.
// net/http's own goroutine returns once the connection is taken over,
// provided Handler is the http.Server's Handler; wrap your middleware and
// router with it.
//
// The handshake's 101 response goes out when the handler first
// receives, sends, closes, or looks at its context, or returns. Whatever
// the handler sets up before that (joining a group, say) is in place when
// a client's dial returns, so a test can have one client send and another
// receive at once.
//
// # Closing
//
// When the handler returns nil the connection closes with 1000. When it
// returns an error or panics, the connection closes with 1011, the error
// is logged, and the server goes on serving. A handler may choose another
// code by returning a [*CloseError]. When the client goes away, the
// handler's context is cancelled and Receive returns an error that
// matches [ErrClosed].
//
// # Security
//
// Handshakes pass an origin check by default (see [Options.AllowedHosts]
// and [OriginExempt]); [CSRF] protects HTTP forms and lets handshakes
// through, offering [CheckCSRF] and [CSRFHandshake] for tokens sent over
// the socket.
package pistoke
