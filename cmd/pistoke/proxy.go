package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

// The paths pistoke serves itself in front of the program.
const (
	ownPrefix  = "/__pistoke/"
	reloadPath = ownPrefix + "reload"
	scriptPath = ownPrefix + "reload.js"
)

// maxInjected is the largest HTML response the script is added to;
// larger ones pass unchanged.
const maxInjected = 32 << 20

//go:embed reload.js
var reloadScript []byte

func serveScript(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(reloadScript)
}

// target is where a request goes and what its page's version is.
type target struct {
	url     *url.URL
	version string
}

type targetKey struct{}

// serveProxy sends the request to the program, or answers with the
// problem that keeps it from running.
func (r *reloader) serveProxy(w http.ResponseWriter, req *http.Request) {
	c, version, problem := r.current(req.Context())
	if c == nil {
		if req.Context().Err() != nil {
			return
		}
		servePage(w, req, http.StatusServiceUnavailable, problem, version)
		return
	}
	ctx := context.WithValue(req.Context(), targetKey{}, target{c.url, version})
	r.proxy.ServeHTTP(w, req.WithContext(ctx))
}

// rewrite addresses the request to the program as the browser sent it:
// same Host (for origin checks and generated URLs), with X-Forwarded-*.
func (r *reloader) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(target)
	pr.SetURL(t.url)
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	// Pages must arrive uncompressed for the script to be added; the
	// transport still compresses on the loopback hop it controls.
	pr.Out.Header.Del("Accept-Encoding")
}

// modifyResponse adds the reload script to HTML pages.
func (r *reloader) modifyResponse(resp *http.Response) error {
	t, _ := resp.Request.Context().Value(targetKey{}).(target)
	return injectResponse(resp, t.version)
}

// proxyError answers for a program that did not: it is restarting, or it
// just failed. The page reloads itself when the program is back.
func (r *reloader) proxyError(w http.ResponseWriter, req *http.Request, err error) {
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		return // the browser left
	}
	t, _ := req.Context().Value(targetKey{}).(target)
	r.logger.Debug("proxy error", "path", req.URL.Path, "error", err.Error())
	servePage(w, req, http.StatusBadGateway, "The program did not answer: "+err.Error(), t.version)
}

// injectResponse adds the script tag to resp when it is an HTML page,
// fixing Content-Length.
func injectResponse(resp *http.Response, version string) error {
	if !isHTML(resp) {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInjected+1))
	if err != nil {
		return err
	}
	if len(body) > maxInjected {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	body = injectScript(body, scriptTag(version))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Etag") // the body is no longer the one it named
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// isHTML tells pages from other responses.
func isHTML(resp *http.Response) bool {
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		return false
	}
	switch resp.StatusCode {
	case http.StatusSwitchingProtocols, http.StatusNoContent, http.StatusNotModified:
		return false
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	ct := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Type")))
	return strings.HasPrefix(ct, "text/html")
}

func scriptTag(version string) []byte {
	return []byte(`<script src="` + scriptPath + `" data-version="` + template.HTMLEscapeString(version) + `"></script>`)
}

// injectScript inserts tag before the last </body>, else before the last
// </html>, else at the end.
func injectScript(page, tag []byte) []byte {
	lower := bytes.ToLower(page)
	i := bytes.LastIndex(lower, []byte("</body"))
	if i < 0 {
		i = bytes.LastIndex(lower, []byte("</html"))
	}
	if i < 0 {
		i = len(page)
	}
	out := make([]byte, 0, len(page)+len(tag)+1)
	out = append(out, page[:i]...)
	out = append(out, tag...)
	out = append(out, '\n')
	return append(out, page[i:]...)
}

var problemPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: system-ui, sans-serif; margin: 2rem">
<h1>{{.Title}}</h1>
<pre style="white-space: pre-wrap">{{.Text}}</pre>
<p>This page reloads when the program is running again.</p>
</body>
</html>
`))

// servePage answers a request the program cannot: an HTML page with the
// reload script for browsers, the text for other clients.
func servePage(w http.ResponseWriter, req *http.Request, status int, text, version string) {
	w.Header().Set("Cache-Control", "no-store")
	if !strings.Contains(req.Header.Get("Accept"), "text/html") {
		http.Error(w, text, status)
		return
	}
	var buf bytes.Buffer
	_ = problemPage.Execute(&buf, struct{ Title, Text string }{http.StatusText(status), text})
	body := injectScript(buf.Bytes(), scriptTag(version))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
