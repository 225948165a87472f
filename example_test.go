package pistoke_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistoketest"
)

// A page and its socket on one ServeMux, behind the same middleware.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chat/{room}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "page of %s, socket at %s%s", r.PathValue("room"), pistoke.BaseURL(r), r.URL.Path)
	})
	mux.Handle("WEBSOCKET /chat/{room}", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		room := ws.Request().PathValue("room")
		for _, msg := range ws.Messages() {
			if err := ws.SendText(room + ": " + string(msg)); err != nil {
				return err
			}
		}
		return ws.Err()
	}))
	app := pistoke.Handler(mux, pistoke.Options{AllowedHosts: []string{"example.com"}})

	srv := httptest.NewServer(app)
	defer srv.Close()
	resp, _ := http.Get(srv.URL + "/chat/lobby")
	fmt.Println(resp.StatusCode)
	resp.Body.Close()

	ws, _, err := pistoke.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/chat/lobby", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ws.SendText("hello")
	_, reply, _ := ws.Receive()
	fmt.Println(string(reply))
	ws.Close(pistoke.CloseNormal, "")
	// Output:
	// 200
	// lobby: hello
}

// Subprotocol negotiation: the client's order wins, and a client that
// offers none of the handler's subprotocols is refused with 403.
func ExampleProtocol() {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /calc/", pistoke.Protocol{
		Subprotocols: []string{"v2.calc", "v1.calc"},
		Codec:        pistoke.JSON{UseNumber: true},
	}.Wrap(pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		return ws.SendJSON(map[string]string{"speaking": ws.Subprotocol()})
	})))
	client := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{}))
	defer client.Close()

	ws, _ := client.Dial(context.Background(), "/calc/", &pistoketest.DialOptions{Subprotocols: []string{"v1.calc", "v2.calc"}})
	reply, _ := ws.ReceiveText()
	fmt.Println(reply)
	ws.Close()

	_, err := client.Dial(context.Background(), "/calc/", &pistoketest.DialOptions{Subprotocols: []string{"v3.calc"}})
	fmt.Println(err)
	// Output:
	// {"speaking":"v1.calc"}
	// pistoketest: handshake refused with 403 Forbidden: no compatible subprotocol
}

// Middleware inside a protocol closes the socket with 4000+status; the
// same middleware outside it answers with the plain HTTP status.
func ExampleProtocol_Wrap() {
	loginRequired := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := r.Cookie("session"); err != nil {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	socket := pistoke.HandlerFunc(func(ws *pistoke.Conn) error { return ws.SendText("welcome") })
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /outside/", loginRequired(socket))
	mux.Handle("WEBSOCKET /inside/", pistoke.Protocol{}.Wrap(loginRequired(socket)))
	client := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{}))
	defer client.Close()

	_, err := client.Dial(context.Background(), "/outside/", nil)
	fmt.Println(err)

	ws, _ := client.Dial(context.Background(), "/inside/", nil)
	code, reason, _ := ws.CloseCode()
	fmt.Println(code, reason)
	// Output:
	// pistoketest: handshake refused with 401 Unauthorized
	// 4401 Unauthorized
}

// A raw handler decides about the handshake itself.
func ExampleRawHandlerFunc() {
	h := pistoke.RawHandlerFunc(func(hs *pistoke.Handshake) error {
		if hs.Request().URL.Query().Get("key") != "sesame" {
			hs.Deny(http.StatusForbidden)
			return nil
		}
		ws, err := hs.Accept(pistoke.Protocol{Header: http.Header{"X-Welcome": {"yes"}}})
		if err != nil {
			return err
		}
		for {
			_, msg, err := ws.Receive()
			var ce *pistoke.CloseError
			if errors.As(err, &ce) {
				fmt.Println("disconnect", ce.Code)
				return nil
			}
			fmt.Printf("message %s\n", msg)
		}
	})
	client := pistoketest.NewClient(h)
	defer client.Close()

	_, err := client.Dial(context.Background(), "/?key=wrong", nil)
	fmt.Println(err)
	ws, _ := client.Dial(context.Background(), "/?key=sesame", nil)
	ws.SendText("hi")
	ws.Close()
	// Output:
	// pistoketest: handshake refused with 403 Forbidden: denied by the handler
	// message hi
	// disconnect 1000
}

type counterView struct{}

func (counterView) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "<p>counter page</p>")
}

func (counterView) ServeWebsocket(ws *pistoke.Conn) error {
	n := 0
	for range ws.Messages() {
		n++
		if err := ws.SendText(fmt.Sprint(n)); err != nil {
			return err
		}
	}
	return ws.Err()
}

// One type serves the page and its socket on one route.
func ExampleView() {
	mux := http.NewServeMux()
	mux.Handle("/counter/", pistoke.View(counterView{}))
	client := pistoketest.NewClient(pistoke.Handler(mux, pistoke.Options{}))
	defer client.Close()

	resp, _ := client.Get("/counter/")
	fmt.Println(resp.StatusCode)
	resp.Body.Close()
	ws, _ := client.Dial(context.Background(), "/counter/", nil)
	ws.SendText("tick")
	ws.SendText("tick")
	a, _ := ws.ReceiveText()
	b, _ := ws.ReceiveText()
	fmt.Println(a, b)
	fmt.Println(ws.Close())
	// Output:
	// 200
	// 1 2
	// <nil>
}

// The first message of the socket must be the page's CSRF token.
func ExampleCSRFHandshake() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /token/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, pistoke.CSRFToken(r)) })
	mux.Handle("WEBSOCKET /secure/", pistoke.CSRFHandshake{Key: "csrf", ErrorKey: "error"}.Wrap(
		func(ws *pistoke.Conn) error { return ws.SendText("authorised") }))
	client := pistoketest.NewClient(pistoke.Handler(pistoke.CSRF(pistoke.CSRFOptions{})(mux), pistoke.Options{}))
	client.EnforceCSRF = true
	defer client.Close()

	ws, _ := client.Dial(context.Background(), "/secure/", nil)
	ws.SendJSON(map[string]string{"csrf": "forged"})
	reply, _ := ws.ReceiveText()
	fmt.Println(reply)
	ws.Close()

	resp, _ := client.Get("/token/")
	token, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ws, _ = client.Dial(context.Background(), "/secure/", nil)
	ws.SendJSON(map[string]string{"csrf": string(token)})
	reply, _ = ws.ReceiveText()
	fmt.Println(reply)
	ws.Close()
	// Output:
	// {"error":"CSRF token missing or invalid"}
	// authorised
}

// Run serves until SIGINT or SIGTERM, then closes every socket with 1001
// and waits for handlers, so that a deploy does not cut clients off.
func ExampleRun() {
	mux := http.NewServeMux()
	mux.Handle("WEBSOCKET /updates/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		<-ws.Context().Done()
		if pistoke.Draining(ws.Context()) {
			log.Print("closed by the drain; the client reconnects elsewhere")
		}
		return nil
	}))
	srv := &http.Server{
		Addr: "127.0.0.1:8000",
		Handler: pistoke.Handler(mux, pistoke.Options{
			PingInterval: 20 * time.Second, // below the proxy's read timeout
			MaxConns:     10000,
			Compression:  &pistoke.Compression{},
		}),
	}
	if err := pistoke.Run(context.Background(), srv, nil, &pistoke.RunOptions{DrainTimeout: 10 * time.Second}); err != nil {
		log.Fatal(err)
	}
}
