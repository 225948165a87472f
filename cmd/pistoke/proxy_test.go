package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestInjectScript(t *testing.T) {
	tag := []byte("<s>")
	tests := []struct{ in, want string }{
		{"<html><body><p>x</p></body></html>", "<html><body><p>x</p><s>\n</body></html>"},
		{"<BODY>a</BODY >", "<BODY>a<s>\n</BODY >"},
		{"<p>no body</p></html>", "<p>no body</p><s>\n</html>"},
		{"fragment", "fragment<s>\n"},
		// The last </body>, not one inside a script or comment before it.
		{"<body><script>'</body>'</script></body>", "<body><script>'</body>'</script><s>\n</body>"},
	}
	for _, tt := range tests {
		if got := string(injectScript([]byte(tt.in), tag)); got != tt.want {
			t.Errorf("injectScript(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func newResponse(method string, status int, header http.Header, body string) *http.Response {
	req, _ := http.NewRequest(method, "http://x/", nil)
	return &http.Response{
		StatusCode:    status,
		Header:        header,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func TestInjectResponse(t *testing.T) {
	page := "<html><body>hi</body></html>"
	resp := newResponse("GET", 200, http.Header{
		"Content-Type":   {"text/html; charset=utf-8"},
		"Content-Length": {strconv.Itoa(len(page))},
		"Etag":           {`"abc"`},
	}, page)
	if err := injectResponse(resp, `v-1"`); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	want := `<html><body>hi<script src="/__pistoke/reload.js" data-version="v-1&#34;"></script>` + "\n</body></html>"
	if string(body) != want {
		t.Errorf("body %q; want %q", body, want)
	}
	if resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Errorf("Content-Length %d / %q; want %d", resp.ContentLength, resp.Header.Get("Content-Length"), len(want))
	}
	if resp.Header.Get("Etag") != "" {
		t.Error("the ETag of the original body was kept")
	}

	// Left alone: other types, compressed pages, HEAD, 304.
	for name, resp := range map[string]*http.Response{
		"css":  newResponse("GET", 200, http.Header{"Content-Type": {"text/css"}}, page),
		"gzip": newResponse("GET", 200, http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"gzip"}}, page),
		"head": newResponse("HEAD", 200, http.Header{"Content-Type": {"text/html"}}, ""),
		"304":  newResponse("GET", 304, http.Header{"Content-Type": {"text/html"}}, ""),
	} {
		if err := injectResponse(resp, "v"); err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(body), "reload.js") {
			t.Errorf("%s: the script was added", name)
		}
	}
}

func TestLineWriter(t *testing.T) {
	var out strings.Builder
	var taken []string
	w := &lineWriter{out: &out, line: func(s string) bool {
		if strings.HasPrefix(s, "take ") {
			taken = append(taken, s)
			return true
		}
		return false
	}}
	for _, chunk := range []string{"one\nta", "ke me\r\ntwo", "\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "one\ntwo\n" || len(taken) != 1 || taken[0] != "take me" {
		t.Errorf("passed %q, took %q", out.String(), taken)
	}
}

func TestStripANSI(t *testing.T) {
	if got := stripANSI("\x1b[31mERROR\x1b[0m x \x1b[1;31mCRIT\x1b[0m"); got != "ERROR x CRIT" {
		t.Errorf("stripANSI = %q", got)
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 5}
	io.WriteString(tl, "abc")
	io.WriteString(tl, "defg")
	if got := tl.String(); got != "cdefg" {
		t.Errorf("tail = %q; want cdefg", got)
	}
}
