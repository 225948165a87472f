// Package devserver runs a pistoke application for development: pages and
// sockets from one process, static files served first and never cached,
// readable coloured logs, optional TLS with a generated certificate, and a
// graceful stop that closes sockets with 1001.
//
// An application's main hands its handler to [Main]:
//
//	func main() {
//		mux := http.NewServeMux()
//		// ... routes, "WEBSOCKET /path" included
//		devserver.Main(pistoke.Handler(mux, pistoke.Options{}))
//	}
//
// and is started with go run, or with the pistoke command, which adds
// automatic rebuilds and browser reloads:
//
//	go run . -static static -v debug
//	pistoke run -reload -static static .
//
// [Main] reads its settings from flags, with defaults from PISTOKE_*
// environment variables (see [Options.Environ]); [Serve] is the same
// server for programs that configure it themselves.
//
// One log shows everything, in one format: requests, and pistoke's own
// events (sockets opened and closed, refused handshakes, failing
// handlers). A [pistoke.Handler] built without Options.Logger logs those
// events to slog's default logger, so while [Serve] runs it makes slog's
// default send them to the dev server's log, along with whatever else
// the program logs through slog's default logger or the standard log
// package; when Serve returns the previous default is back. [Main]
// keeps its logger as slog's default until the program exits.
//
// The development server is not meant for production: it trusts its
// static directory, logs every request and favours clear errors over
// throughput. Serve production traffic with [pistoke.Run] behind a
// reverse proxy.
package devserver
