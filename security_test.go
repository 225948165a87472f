package pistoke_test

import (
	"context"
	"crypto/tls"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistoketest"
)

func TestBaseURL(t *testing.T) {
	var got string
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = pistoke.BaseURL(r) })
	trusting := pistoke.Handler(page, pistoke.Options{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7"}})
	plain := pistoke.Handler(page, pistoke.Options{})
	for _, tc := range []struct {
		name    string
		h       http.Handler
		remote  string
		tls     bool
		headers map[string]string
		want    string
	}{
		{"plain", plain, "192.0.2.1:5", false, nil, "ws://example.com"},
		{"tls", plain, "192.0.2.1:5", true, nil, "wss://example.com"},
		{"untrusted proxy header ignored", plain, "10.1.2.3:5", false, map[string]string{"X-Forwarded-Proto": "https"}, "ws://example.com"},
		{"trusted X-Forwarded-Proto", trusting, "10.1.2.3:5", false, map[string]string{"X-Forwarded-Proto": "https"}, "wss://example.com"},
		{"trusted single address", trusting, "192.0.2.7:5", false, map[string]string{"X-Forwarded-Proto": "https, http"}, "wss://example.com"},
		{"trusted says http", trusting, "10.1.2.3:5", false, map[string]string{"X-Forwarded-Proto": "http"}, "ws://example.com"},
		{"client outside trusted range", trusting, "192.0.2.8:5", false, map[string]string{"X-Forwarded-Proto": "https"}, "ws://example.com"},
		{"trusted Forwarded", trusting, "10.1.2.3:5", false, map[string]string{"Forwarded": `for=192.0.2.60;proto="https";by=203.0.113.43`}, "wss://example.com"},
	} {
		r := httptest.NewRequest("GET", "http://example.com/page", nil)
		r.RemoteAddr = tc.remote
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		got = ""
		tc.h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: BaseURL = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBadTrustedProxyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Handler accepted an unparsable trusted proxy")
		}
	}()
	pistoke.Handler(http.NotFoundHandler(), pistoke.Options{TrustedProxies: []string{"not-an-ip"}})
}

func TestTemplateFuncs(t *testing.T) {
	tmpl := template.Must(template.New("p").Funcs(pistoke.FuncMap()).Parse(
		`<script>const url = "{{websocketURL .}}/chat/";</script><form>{{csrfField .}}</form>`))
	h := pistoke.Handler(pistoke.CSRF(pistoke.CSRFOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := tmpl.Execute(w, r); err != nil {
			t.Error(err)
		}
	})), pistoke.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/", nil))
	body := rec.Body.String()
	if !strings.Contains(body, `"ws:\/\/example.com/chat/"`) {
		t.Errorf("websocketURL not rendered as a JS string: %s", body)
	}
	if !strings.Contains(body, `<input type="hidden" name="csrf_token" value="`) {
		t.Errorf("csrfField not rendered: %s", body)
	}
}

// csrfApp has a form page, a form handler and a socket that checks a
// token received as its first message by hand.
func csrfApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, pistoke.CSRFToken(r)) })
	mux.HandleFunc("POST /form/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "accepted") })
	mux.Handle("WEBSOCKET /ws/", pistoke.HandlerFunc(func(ws *pistoke.Conn) error {
		_, tok, err := ws.Receive()
		if err != nil {
			return err
		}
		if err := pistoke.CheckCSRF(ws.Request(), string(tok)); err != nil {
			if !errors.Is(err, pistoke.ErrCSRF) {
				return err
			}
			return ws.SendText("rejected")
		}
		return ws.SendText("accepted")
	}))
	return pistoke.Handler(pistoke.CSRF(pistoke.CSRFOptions{TrustedOrigins: []string{"https://app.example.net"}})(mux),
		pistoke.Options{Logger: quietLogger()})
}

// csrfClient returns a client of csrfApp that enforces CSRF checks, and
// the token its form page issued.
func csrfClient(t *testing.T) (*pistoketest.Client, string) {
	t.Helper()
	c := pistoketest.NewClient(csrfApp())
	c.EnforceCSRF = true
	t.Cleanup(c.Close)
	resp, err := c.Get("/form/")
	if err != nil {
		t.Fatal(err)
	}
	token, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(token) == 0 {
		t.Fatal("no CSRF token issued")
	}
	return c, string(token)
}

func TestCSRFForms(t *testing.T) {
	c, token := csrfClient(t)

	post := func(form url.Values, header map[string]string) int {
		req, _ := http.NewRequest("POST", "/form/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://testserver")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"form field", url.Values{pistoke.CSRFFieldName: {token}}, nil, 200},
		{"header", nil, map[string]string{pistoke.CSRFHeaderName: token}, 200},
		{"missing", nil, nil, 403},
		{"wrong", url.Values{pistoke.CSRFFieldName: {"d3Jvbmc="}}, nil, 403},
		{"cross-site origin", url.Values{pistoke.CSRFFieldName: {token}}, map[string]string{"Origin": "https://evil.example"}, 403},
		{"trusted origin", url.Values{pistoke.CSRFFieldName: {token}}, map[string]string{"Origin": "https://app.example.net"}, 200},
	} {
		if got := post(tc.form, tc.header); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCSRFOverSocket(t *testing.T) {
	c, token := csrfClient(t)
	for tok, want := range map[string]string{token: "accepted", "": "rejected", "bogus": "rejected"} {
		ws, err := c.Dial(context.Background(), "/ws/", nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.SendText(tok)
		if got, err := ws.ReceiveText(); err != nil || got != want {
			t.Errorf("token %q: %q, %v; want %q", tok, got, err, want)
		}
		if err := ws.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestCheckCSRFWithoutMiddleware(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if err := pistoke.CheckCSRF(r, "anything"); !errors.Is(err, pistoke.ErrCSRF) {
		t.Fatalf("CheckCSRF without middleware = %v, want ErrCSRF", err)
	}
}
