package main

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/pistoke/pistoke"
)

// newHandler builds the application: every route of the contract on one
// ServeMux, behind CSRF protection and pistoke.Handler.
func newHandler(logger *slog.Logger) http.Handler {
	return newHandlerWith(pistoke.Options{Logger: logger})
}

// newHandlerWith is newHandler with the runtime options the flags set;
// the contract's allowed hosts are added to them.
func newHandlerWith(opts pistoke.Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)

	mux.HandleFunc("GET /echo/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Method) })
	mux.Handle("WEBSOCKET /echo/", pistoke.HandlerFunc(echo))
	// /echo/ with room for the largest messages of Autobahn's cases 9.*.
	mux.Handle("WEBSOCKET /echo-big/", pistoke.Protocol{ReadLimit: bigReadLimit}.Wrap(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /echo-iter/", pistoke.HandlerFunc(echoIter))
	mux.Handle("WEBSOCKET /raw/", pistoke.RawHandlerFunc(raw))
	mux.Handle("WEBSOCKET /empty/", pistoke.HandlerFunc(func(*pistoke.Conn) error { return nil }))
	mux.Handle("WEBSOCKET /sub/", pistoke.Protocol{Subprotocols: []string{"yhta-suurempi", "yhta-pienempi"}}.Wrap(pistoke.HandlerFunc(oneOff)))

	// The same access check outside and inside the protocol.
	mux.Handle("WEBSOCKET /private-outer/", requireAdmin(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /private-inner/", pistoke.Protocol{}.Wrap(requireAdmin(pistoke.HandlerFunc(echo))))

	mux.Handle("WEBSOCKET /origin-exempt/", pistoke.OriginExempt(pistoke.HandlerFunc(echo)))

	mux.HandleFunc("GET /csrf/", csrfToken)
	mux.Handle("WEBSOCKET /csrf/", pistoke.CSRFHandshake{}.Wrap(func(ws *pistoke.Conn) error {
		if err := ws.SendText("ok"); err != nil {
			return err
		}
		return echo(ws)
	}))

	mux.Handle("WEBSOCKET /arith/", pistoke.Protocol{
		Subprotocols: []string{"summa", "erotus"},
		Codec:        pistoke.JSON{UseNumber: true},
	}.Wrap(pistoke.HandlerFunc(pistoke.CSRFHandshake{Key: "csrfmiddlewaretoken", ErrorKey: "virhe"}.Wrap(arith))))

	mux.Handle("WEBSOCKET /json/", pistoke.Protocol{Codec: pistoke.JSON{UseNumber: true}}.Wrap(pistoke.HandlerFunc(jsonEcho)))

	mux.Handle("WEBSOCKET /fail/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if _, _, err := ws.Receive(); err != nil {
			return err
		}
		return errors.New("seedcases: deliberate failure")
	}))
	mux.Handle("WEBSOCKET /panic/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		if _, _, err := ws.Receive(); err != nil {
			return err
		}
		panic("seedcases: deliberate panic")
	}))

	mux.Handle("/class/", pistoke.View(classView{}))
	mux.HandleFunc("GET /get-only/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "GET only") })
	mux.Handle("WEBSOCKET /redirect/", redirectToLogin(pistoke.HandlerFunc(echo)))
	mux.Handle("WEBSOCKET /nested/", pistoke.Protocol{}.Wrap(pistoke.Protocol{}.Wrap(pistoke.HandlerFunc(echo))))

	opts.AllowedHosts = append(opts.AllowedHosts, "testserver", "sallittu-lahde")
	return pistoke.Handler(pistoke.CSRF(pistoke.CSRFOptions{})(mux), opts)
}

// bigReadLimit is the read limit of /echo-big/: twice the 16 MiB of
// Autobahn's largest messages.
const bigReadLimit = 32 << 20

// echo sends every message back with its type.
func echo(ws *pistoke.Conn) error {
	for {
		typ, msg, err := ws.Receive()
		if err != nil {
			return err
		}
		if err := ws.Send(typ, msg); err != nil {
			return err
		}
	}
}

// echoIter is echo written with range.
func echoIter(ws *pistoke.Conn) error {
	for typ, msg := range ws.Messages() {
		if err := ws.Send(typ, msg); err != nil {
			return err
		}
	}
	return ws.Err()
}

// raw accepts, echoes one message and closes with 1000.
func raw(h *pistoke.Handshake) error {
	ws, err := h.Accept(pistoke.Protocol{})
	if err != nil {
		return err
	}
	typ, msg, err := ws.Receive()
	if err != nil {
		return nil // the client left: the disconnect event
	}
	if err := ws.Send(typ, msg); err != nil {
		return err
	}
	return ws.Close(pistoke.CloseNormal, "")
}

// oneOff answers each integer n with n+1 or n-1, by subprotocol.
func oneOff(ws *pistoke.Conn) error {
	step := 1
	if ws.Subprotocol() == "yhta-pienempi" {
		step = -1
	}
	for {
		_, msg, err := ws.Receive()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(msg)))
		if err != nil {
			return &pistoke.CloseError{Code: pistoke.CloseInvalidPayload, Reason: "expected an integer"}
		}
		if err := ws.SendText(strconv.Itoa(n + step)); err != nil {
			return err
		}
	}
}

// requireAdmin lets through only requests with the cookie role=admin.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("role"); err != nil || c.Value != "admin" {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// redirectToLogin answers every request with a login redirect, as an
// authentication middleware would.
func redirectToLogin(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login/?next="+r.URL.Path, http.StatusFound)
	})
}

func csrfToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": pistoke.CSRFToken(r)})
}

// arith reads pairs of JSON numbers and answers their exact sum or
// difference, by subprotocol.
func arith(ws *pistoke.Conn) error {
	for {
		var a, b json.Number
		if err := ws.ReceiveJSON(&a); err != nil {
			return err
		}
		if err := ws.ReceiveJSON(&b); err != nil {
			return err
		}
		x, okA := new(big.Rat).SetString(a.String())
		y, okB := new(big.Rat).SetString(b.String())
		if !okA || !okB {
			if err := ws.SendJSON(map[string]string{"virhe": "expected two JSON numbers"}); err != nil {
				return err
			}
			continue
		}
		if ws.Subprotocol() == "erotus" {
			x.Sub(x, y)
		} else {
			x.Add(x, y)
		}
		if err := ws.SendJSON(json.Number(decimalString(x))); err != nil {
			return err
		}
	}
}

// decimalString writes r, a sum of decimals and so a terminating
// decimal, exactly and without trailing zeros.
func decimalString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	scaled, ten, digits := new(big.Rat).Set(r), big.NewRat(10, 1), 0
	for !scaled.IsInt() && digits < 1000 {
		scaled.Mul(scaled, ten)
		digits++
	}
	return r.FloatString(digits)
}

// jsonEcho answers each JSON value v with {"echo": v}.
func jsonEcho(ws *pistoke.Conn) error {
	for {
		var v any
		if err := ws.ReceiveJSON(&v); err != nil {
			return err
		}
		if err := ws.SendJSON(map[string]any{"echo": v}); err != nil {
			return err
		}
	}
}

// classView serves a page on GET and answers messages over a socket.
type classView struct{}

func (classView) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, WEBSOCKET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, "<!doctype html><title>class view</title><p>This view also speaks WebSocket.</p>\n")
}

func (classView) ServeWebsocket(ws *pistoke.Conn) error {
	for typ, msg := range ws.Messages() {
		reply := append(append([]byte(`You wrote "`), msg...), `".`...)
		if err := ws.Send(typ, reply); err != nil {
			return err
		}
	}
	return ws.Err()
}

var indexPage = template.Must(template.New("index").Funcs(pistoke.FuncMap()).Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>pistoke seed cases</title>
<h1>Echo</h1>
<form id="f"><input id="msg" autocomplete="off" autofocus> <button>Send</button></form>
<ul id="log"></ul>
<script>
const ws = new WebSocket("{{websocketURL .}}/echo/");
const log = document.getElementById("log");
function show(text) { const li = document.createElement("li"); li.textContent = text; log.append(li); }
ws.onopen = () => show("connected");
ws.onmessage = (e) => show(e.data);
ws.onclose = (e) => show("closed " + e.code);
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById("msg");
  ws.send(input.value);
  input.value = "";
};
</script>
</html>
`))

func index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := indexPage.Execute(w, r); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
