// Command devapp is a small application made to be run by the pistoke
// development server: a page rendered from a template, a stylesheet and a
// script from its static directory, and a clock over a WebSocket.
//
// From the repository root, with rebuilds and browser reloads on change:
//
//	go run ./cmd/pistoke run -reload -static examples/devapp/static ./examples/devapp
//
// or on its own:
//
//	go run ./examples/devapp -static examples/devapp/static
//
// then open http://127.0.0.1:8000/.
package main

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/devserver"
)

// greeting is the page's heading; edit it while the dev server runs with
// -reload and the page follows.
const greeting = "Hello from devapp"

//go:embed templates
var templates embed.FS

var page = template.Must(template.New("").Funcs(pistoke.FuncMap()).ParseFS(templates, "templates/*.html"))

func main() {
	devserver.Main(newHandler())
}

func newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.Handle("WEBSOCKET /clock", pistoke.HandlerFunc(clock))
	return pistoke.Handler(mux, pistoke.Options{})
}

func index(w http.ResponseWriter, r *http.Request) {
	err := page.ExecuteTemplate(w, "index.html", struct {
		Greeting string
		Request  *http.Request
	}{greeting, r})
	if err != nil {
		slog.Error("devapp: rendering the page", "error", err)
	}
}

// clock sends the server's time every second until the client leaves or
// the server stops.
func clock(ws *pistoke.Conn) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := ws.SendText(time.Now().Format(time.TimeOnly)); err != nil {
			return err
		}
		select {
		case <-ws.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}
