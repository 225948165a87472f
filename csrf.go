package pistoke

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/justinas/nosurf"

	"github.com/pistoke/pistoke/internal/hook"
)

// CSRF token locations in HTTP requests that CSRF checks.
const (
	CSRFFieldName  = "csrf_token"   // form field
	CSRFHeaderName = "X-CSRF-Token" // request header, for scripts
)

// defaultCSRFCookie is the name of the cookie holding the CSRF secret.
const defaultCSRFCookie = "csrftoken"

// CSRFOptions configures [CSRF].
type CSRFOptions struct {
	// CookieName defaults to "csrftoken".
	CookieName string
	// CookiePath defaults to "/".
	CookiePath string
	// CookieDomain is empty (host-only) by default.
	CookieDomain string
	// Secure marks the cookie HTTPS-only; set it in production.
	Secure bool
	// SameSite defaults to http.SameSiteLaxMode.
	SameSite http.SameSite
	// MaxAge of the cookie in seconds; 0 means one year.
	MaxAge int

	// TrustedOrigins lists other origins ("https://app.example.com")
	// whose pages may submit unsafe requests besides the request's own.
	TrustedOrigins []string

	// Exempt, when set, lets the requests it returns true for skip the
	// check (webhooks signed by other means, say).
	Exempt func(r *http.Request) bool

	// FailureHandler answers requests that fail the check; by default
	// they get 403 with the reason.
	FailureHandler http.Handler
}

// CSRF returns middleware protecting HTTP requests against cross-site
// request forgery, and giving pages and sockets the token they need.
//
// Every request gets a secret in a cookie. Unsafe methods (POST, PUT,
// PATCH, DELETE...) must come from the site's own origin (or a trusted
// one) and carry the token, in the form field CSRFFieldName or the header
// CSRFHeaderName; pages get it from [CSRFToken] or the template functions
// of [FuncMap]. WebSocket handshakes are let through: a handshake carries
// no form, and the origin check guards it. A socket handler that needs a
// token checks one received over the socket with [CheckCSRF], or uses
// [CSRFHandshake].
//
// Place it inside [Handler] so that it learns, from Options.TrustedProxies,
// whether a request came over TLS. The tokens are built with
// github.com/justinas/nosurf (masked per request, compared in constant
// time).
func CSRF(opts CSRFOptions) func(http.Handler) http.Handler {
	cookie := http.Cookie{
		Name:     opts.CookieName,
		Path:     opts.CookiePath,
		Domain:   opts.CookieDomain,
		Secure:   opts.Secure,
		HttpOnly: true,
		SameSite: opts.SameSite,
		MaxAge:   opts.MaxAge,
	}
	if cookie.Name == "" {
		cookie.Name = defaultCSRFCookie
	}
	if cookie.Path == "" {
		cookie.Path = "/"
	}
	if cookie.SameSite == 0 {
		cookie.SameSite = http.SameSiteLaxMode
	}
	if cookie.MaxAge == 0 {
		cookie.MaxAge = nosurf.MaxAge
	}
	trusted := make(map[string]bool, len(opts.TrustedOrigins))
	for _, o := range opts.TrustedOrigins {
		trusted[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	failure := opts.FailureHandler
	if failure == nil {
		failure = http.HandlerFunc(csrfFailure)
	}
	return func(next http.Handler) http.Handler {
		h := nosurf.New(next)
		h.SetBaseCookie(cookie)
		h.SetIsTLSFunc(isSecure)
		h.SetFailureHandler(failure)
		h.SetIsAllowedOriginFunc(func(u *url.URL) bool {
			return trusted[strings.ToLower(u.Scheme+"://"+u.Host)]
		})
		h.ExemptFunc(func(r *http.Request) bool {
			return IsWebsocket(r) || hook.SkipCSRF(r.Context()) || (opts.Exempt != nil && opts.Exempt(r))
		})
		return h
	}
}

func csrfFailure(w http.ResponseWriter, r *http.Request) {
	reason := "CSRF token missing or invalid"
	if err := nosurf.Reason(r); err != nil {
		reason = "CSRF check failed: " + err.Error()
	}
	http.Error(w, "Forbidden: "+reason, http.StatusForbidden)
}

// CSRFToken returns the CSRF token for r, to put in a page, or "" when r
// did not pass through [CSRF]. Each call may return a different string
// (the token is masked afresh); all of them are valid.
func CSRFToken(r *http.Request) string { return nosurf.Token(r) }

// csrfField returns a hidden form input carrying the CSRF token.
func csrfField(r *http.Request) template.HTML {
	return template.HTML(fmt.Sprintf(`<input type="hidden" name="%s" value="%s">`,
		CSRFFieldName, template.HTMLEscapeString(CSRFToken(r))))
}

// CheckCSRF verifies a token received by other means than a form, such as
// the first message of a socket, against r's CSRF cookie. It returns nil
// when the token is valid and an error matching [ErrCSRF] otherwise. r
// must have passed through [CSRF]; on a socket, use ws.Request().
func CheckCSRF(r *http.Request, token string) error {
	if hook.SkipCSRF(r.Context()) {
		return nil
	}
	real := nosurf.Token(r)
	if real == "" {
		return fmt.Errorf("%w (no CSRF middleware saw the request)", ErrCSRF)
	}
	if token == "" || !nosurf.VerifyToken(real, token) {
		return ErrCSRF
	}
	return nil
}

// CSRFHandshake makes the first message of a socket carry the CSRF token:
// the whole message, or the string under Key in a JSON object. Wrap a
// socket handler with it:
//
//	pistoke.CSRFHandshake{Key: "csrfmiddlewaretoken"}.Wrap(handler)
//
// When the token is missing or wrong, the client gets the message "CSRF
// token missing or invalid" (as text, or under ErrorKey in a JSON object),
// and the handler is not called: the connection closes with 1000.
type CSRFHandshake struct {
	// Key is the JSON key of the token; "" means the message is the token.
	Key string
	// ErrorKey is the JSON key of the error message; "" sends plain text.
	ErrorKey string
}

// Wrap returns a socket handler that checks the token and then runs next.
func (c CSRFHandshake) Wrap(next HandlerFunc) HandlerFunc {
	return func(ws *Conn) error {
		_, p, err := ws.Receive()
		if err != nil {
			return err
		}
		token := string(p)
		if c.Key != "" {
			var m map[string]any
			token = ""
			if json.Unmarshal(p, &m) == nil {
				token, _ = m[c.Key].(string)
			}
		}
		if err := CheckCSRF(ws.Request(), token); err != nil {
			if c.ErrorKey != "" {
				return ws.SendJSON(map[string]string{c.ErrorKey: ErrCSRF.Error()})
			}
			return ws.SendText(ErrCSRF.Error())
		}
		return next(ws)
	}
}
