package devserver

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func staticFixture(t *testing.T) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = filepath.Join(root, "static")
	if err := os.MkdirAll(filepath.Join(dir, "css"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "css", "site.css"), "body { color: red }\n")
	write(filepath.Join(root, "secret.txt"), "secret")
	return root, dir
}

func TestStaticHandler(t *testing.T) {
	_, dir := staticFixture(t)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app "+r.Method+" "+r.URL.Path) })
	h, err := StaticHandler(dir, "/assets", app)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, target string, header http.Header) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := do("GET", "/assets/css/site.css", nil)
	if w.Code != 200 || w.Body.String() != "body { color: red }\n" {
		t.Fatalf("GET site.css = %d %q", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", cc)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}

	// A browser revalidating gets the file again, not 304.
	lm := w.Header().Get("Last-Modified")
	w = do("GET", "/assets/css/site.css", http.Header{"If-Modified-Since": {lm}, "If-None-Match": {`"x"`, "*"}})
	if w.Code != 200 || w.Body.Len() == 0 {
		t.Errorf("conditional GET = %d with %d bytes; want 200 with the file", w.Code, w.Body.Len())
	}

	if w := do("GET", "/assets/missing.css", nil); w.Code != 404 {
		t.Errorf("missing file: %d; want 404", w.Code)
	}
	if w := do("POST", "/assets/css/site.css", nil); w.Body.String() != "app POST /assets/css/site.css" {
		t.Errorf("POST went to %q; want the application", w.Body)
	}
	if w := do("GET", "/page", nil); w.Body.String() != "app GET /page" {
		t.Errorf("other path went to %q; want the application", w.Body)
	}
	ws := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}
	if w := do("GET", "/assets/live", ws); w.Body.String() != "app GET /assets/live" {
		t.Errorf("handshake went to %q; want the application", w.Body)
	}
}

func TestStaticHandlerTraversal(t *testing.T) {
	_, dir := staticFixture(t)
	h, err := StaticHandler(dir, "", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	// Raw paths, sent as written: the client must not clean them.
	for _, p := range []string{
		"/static/../secret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/..%2fsecret.txt",
		"/static/css/../../secret.txt",
		"/static/%2e%2e%2fsecret.txt",
		"/static//../secret.txt",
		"/static/..\\secret.txt",
	} {
		req, err := http.NewRequest("GET", srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) == "secret" {
			t.Errorf("GET %s served a file outside the static directory", p)
		}
	}
}

func TestStaticHandlerBadDir(t *testing.T) {
	root, dir := staticFixture(t)
	if _, err := StaticHandler(filepath.Join(root, "nope"), "", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v; want fs.ErrNotExist", err)
	}
	if _, err := StaticHandler(filepath.Join(dir, "css", "site.css"), "", nil); err == nil {
		t.Error("a file accepted as static directory")
	}
}
