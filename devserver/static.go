package devserver

import (
	"fmt"
	"net/http"
	"os"
	"strings"
)

// DefaultStaticPrefix is the URL path under which [Options.StaticDir] is
// served unless [Options.StaticPrefix] says otherwise.
const DefaultStaticPrefix = "/static/"

// StaticHandler returns a handler that serves the files of dir under the
// URL path prefix, and passes every other request to next: GET and HEAD
// requests under prefix are answered from dir (404 when the file is
// missing) before next sees them.
//
// Files are never cached: responses carry Cache-Control: no-store, and
// conditional headers (If-Modified-Since, If-None-Match) are ignored, so a
// browser always receives the file as it is now, whatever the clock or
// the file system's time resolution. Requests cannot reach outside dir:
// paths are resolved as with os.DirFS, which refuses ".." and, being an
// fs.FS, any name that is not a plain path inside it.
func StaticHandler(dir, prefix string, next http.Handler) (http.Handler, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("static directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("static directory %s: not a directory", dir)
	}
	if prefix == "" {
		prefix = DefaultStaticPrefix
	}
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	files := http.StripPrefix(prefix, http.FileServerFS(os.DirFS(dir)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
			!strings.HasPrefix(r.URL.Path, prefix) || isHandshake(r) {
			next.ServeHTTP(w, r)
			return
		}
		r = r.Clone(r.Context())
		r.Header.Del("If-Modified-Since")
		r.Header.Del("If-None-Match")
		r.Header.Del("If-Range")
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	}), nil
}
