package harness

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
)

// Ready is the line a server process prints on stdout, as JSON, once it
// listens: where the harness finds it.
type Ready struct {
	WS         string `json:"ws"`  // address of the listener under test
	Ctl        string `json:"ctl"` // address of the control listener
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// Serve is the life of a server process. It serves ws, the server under
// test, and ctl, which answers the harness's requests for measurements,
// each on a free loopback port of its own, so that asking for a
// measurement costs the server under test nothing but the request. It
// prints the Ready line on stdout and returns once stdin reaches its
// end: the harness holds it open for as long as it needs the server, and
// when it closes it, or dies, the server goes.
//
// Serve closes the listeners before it returns. Connections that ws has
// hijacked, such as WebSockets, stay open.
func Serve(stdin io.Reader, stdout io.Writer, ws, ctl http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer cl.Close()
	wsSrv, ctlSrv := &http.Server{Handler: ws}, &http.Server{Handler: ctl}
	go wsSrv.Serve(ln)
	go ctlSrv.Serve(cl)
	defer wsSrv.Close()
	defer ctlSrv.Close()
	r := Ready{WS: ln.Addr().String(), Ctl: cl.Addr().String(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}
