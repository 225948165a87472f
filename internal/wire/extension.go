package wire

import (
	"net/http"
	"strconv"
	"strings"
)

// The negotiation of permessage-deflate (RFC 7692 section 7.1) and the
// grammar of Sec-WebSocket-Extensions (RFC 6455 section 9.1):
//
//	extension-list = 1#extension
//	extension      = extension-token *( ";" extension-param )
//	extension-param = token [ "=" ( token | quoted-string ) ]
//
// where a quoted value must be a token once unescaped.

const deflateName = "permessage-deflate"

// The parameters of permessage-deflate.
const (
	paramServerNoContext = "server_no_context_takeover"
	paramClientNoContext = "client_no_context_takeover"
	paramServerMaxWindow = "server_max_window_bits"
	paramClientMaxWindow = "client_max_window_bits"
)

// extension is one element of an extension list.
type extension struct {
	name   string // as sent
	params []extParam
	bad    bool // the element does not follow the grammar
}

// extParam is an extension parameter; its name is lower-cased.
type extParam struct {
	name     string
	value    string // unquoted
	hasValue bool
}

// parseExtensions parses the Sec-WebSocket-Extensions lines of h, in
// order. An element that breaks the grammar is returned with bad set, and
// parsing resumes at the next comma outside a quoted string, so that one
// malformed offer does not hide the others.
func parseExtensions(h http.Header) []extension {
	var out []extension
	for _, s := range h.Values("Sec-WebSocket-Extensions") {
		for i := 0; ; {
			i = skipOWS(s, i)
			if i == len(s) {
				break
			}
			if s[i] == ',' {
				i++ // empty list elements are allowed and ignored
				continue
			}
			e, j, ok := parseExtension(s, i)
			if !ok {
				e = extension{name: e.name, bad: true}
				j = skipElement(s, j)
			}
			out = append(out, e)
			i = j
		}
	}
	return out
}

// parseExtension parses the element starting at s[i], up to the comma
// that ends it or the end of s, and returns the position where it stopped.
func parseExtension(s string, i int) (e extension, next int, ok bool) {
	e.name, i = scanToken(s, i)
	if e.name == "" {
		return e, i, false
	}
	for {
		i = skipOWS(s, i)
		if i == len(s) || s[i] == ',' {
			return e, i, true
		}
		if s[i] != ';' {
			return e, i, false
		}
		var p extParam
		p.name, i = scanToken(s, skipOWS(s, i+1))
		if p.name == "" {
			return e, i, false
		}
		p.name = strings.ToLower(p.name)
		i = skipOWS(s, i)
		if i < len(s) && s[i] == '=' {
			p.hasValue = true
			i = skipOWS(s, i+1)
			if i < len(s) && s[i] == '"' {
				var ok bool
				p.value, i, ok = scanQuoted(s, i)
				if !ok || !isToken(p.value) {
					return e, i, false
				}
			} else if p.value, i = scanToken(s, i); p.value == "" {
				return e, i, false
			}
		}
		e.params = append(e.params, p)
	}
}

// skipOWS skips spaces and tabs from s[i].
func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// skipElement returns the position of the next comma at or after s[i]
// that is not inside a quoted string, or len(s).
func skipElement(s string, i int) int {
	quoted := false
	for ; i < len(s); i++ {
		switch b := s[i]; {
		case quoted && b == '\\':
			i++
		case b == '"':
			quoted = !quoted
		case !quoted && b == ',':
			return i
		}
	}
	return len(s)
}

// scanToken returns the token starting at s[i], possibly empty, and the
// position after it.
func scanToken(s string, i int) (string, int) {
	j := i
	for j < len(s) && isTokenChar(s[j]) {
		j++
	}
	return s[i:j], j
}

// scanQuoted returns the unescaped content of the quoted string starting
// at s[i] (RFC 9110 section 5.6.4) and the position after it. A string
// with a forbidden character is scanned to its end all the same, so that
// parsing can resume after it.
func scanQuoted(s string, i int) (value string, next int, ok bool) {
	var b []byte // nil until an escape is met
	start, ok := i+1, true
	for j := start; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			if b == nil {
				return s[start:j], j + 1, ok
			}
			return string(append(b, s[start:j]...)), j + 1, ok
		case c == '\\':
			if j+1 == len(s) {
				return "", len(s), false
			}
			ok = ok && isQuotedText(s[j+1])
			b = append(b, s[start:j]...)
			b = append(b, s[j+1])
			j++
			start = j + 1
		case !isQuotedText(c):
			ok = false
		}
	}
	return "", len(s), false
}

// isQuotedText reports whether b may appear in a quoted string: a tab, a
// space, a visible character or a byte of obsolete text.
func isQuotedText(b byte) bool {
	return b == '\t' || b >= 0x20 && b != 0x7f
}

// isToken reports whether s is a non-empty HTTP token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether b is a tchar of RFC 9110 section 5.6.2.
func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// parseWindowBits parses the value of a *_max_window_bits parameter: a
// decimal integer from 8 to 15 without leading zeros.
func parseWindowBits(v string) (int, bool) {
	if len(v) == 1 && v[0] >= '8' && v[0] <= '9' {
		return int(v[0] - '0'), true
	}
	if len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
		return 10 + int(v[1]-'0'), true
	}
	return 0, false
}

// NegotiateDeflate is the server's side of the permessage-deflate
// negotiation. Given the headers of a client's opening handshake and the
// server's configuration (nil: compression disabled), it returns the
// parameters to put in Config.Deflate and the value of the
// Sec-WebSocket-Extensions header to answer with, or nil and "" to proceed
// without compression.
//
// The client's offers are considered in its order of preference, and the
// first one the server can honour is accepted, except that one that leaves
// the server's window whole is preferred to one that bounds it, since a
// bound makes longer messages go uncompressed (see below) and this server
// never keeps context between messages, which is what a bound on its
// window is for. Offers that are malformed
// (a grammar error, an unknown or repeated parameter, a bad value) are
// skipped: extensions never fail a handshake. Other extensions are
// ignored.
//
// The server always compresses without context takeover, so its answer
// always carries server_no_context_takeover. It accepts any
// server_max_window_bits, from 8 to 15, and echoes it: compress/flate
// always uses a 32 KiB window, but a message compressed on its own cannot
// refer further back than its own length, so the server keeps a smaller
// window by sending messages longer than it uncompressed. It also answers
// client_no_context_takeover, unless cfg.ContextTakeover allows the client
// to keep its context and the client did not say it would not; even then,
// a client whose window cannot be bounded by cfg.MaxWindowBits (it did not
// offer client_max_window_bits) is asked not to keep it.
func NegotiateDeflate(h http.Header, cfg *DeflateConfig) (*Deflate, string) {
	if cfg == nil {
		return nil, ""
	}
	var (
		first     *Deflate
		firstResp string
	)
	for _, e := range parseExtensions(h) {
		if e.bad || !strings.EqualFold(e.name, deflateName) {
			continue
		}
		d, resp, ok := acceptDeflateOffer(e.params, cfg)
		switch {
		case !ok:
		case windowBits(d.WindowBits) == 15:
			return d, resp
		case first == nil:
			first, firstResp = d, resp
		}
	}
	return first, firstResp
}

// acceptDeflateOffer returns the parameters and the answer for one
// permessage-deflate offer, or false if the server cannot accept it.
func acceptDeflateOffer(params []extParam, cfg *DeflateConfig) (*Deflate, string, bool) {
	var (
		seen              [4]bool
		clientNoContext   bool
		clientBitsOffered bool
		serverBits        int // 0: not offered
		clientBits        = 15
	)
	for _, p := range params {
		var k int
		switch p.name {
		case paramServerNoContext:
			k = 0
			if p.hasValue {
				return nil, "", false
			}
		case paramClientNoContext:
			k = 1
			clientNoContext = true
			if p.hasValue {
				return nil, "", false
			}
		case paramServerMaxWindow:
			k = 2
			bits, ok := parseWindowBits(p.value)
			if !ok {
				// A value is required.
				return nil, "", false
			}
			serverBits = bits
		case paramClientMaxWindow:
			k = 3
			clientBitsOffered = true
			if p.hasValue {
				bits, ok := parseWindowBits(p.value)
				if !ok {
					return nil, "", false
				}
				clientBits = bits
			}
		default:
			return nil, "", false
		}
		if seen[k] {
			return nil, "", false
		}
		seen[k] = true
	}

	d := &Deflate{Level: cfg.Level, Threshold: cfg.Threshold, WindowBits: serverBits}
	resp := deflateName + "; " + paramServerNoContext
	if serverBits != 0 {
		// Accepting the parameter means echoing it with a value no
		// larger than the offer's (RFC 7692 section 7.1.2.1). Below
		// 15, messages longer than the window go uncompressed.
		resp += "; " + paramServerMaxWindow + "=" + strconv.Itoa(serverBits)
	}
	bound := windowBits(cfg.MaxWindowBits)
	switch {
	case !cfg.ContextTakeover || clientNoContext:
		resp += "; " + paramClientNoContext
	case clientBitsOffered:
		bits := min(bound, clientBits)
		resp += "; " + paramClientMaxWindow + "=" + strconv.Itoa(bits)
		d.PeerContextTakeover, d.PeerWindowBits = true, bits
	case bound == 15:
		d.PeerContextTakeover, d.PeerWindowBits = true, 15
	default:
		// The client would keep up to 32 KiB of context, more than the
		// configured bound, and did not offer to be told less.
		resp += "; " + paramClientNoContext
	}
	return d, resp, true
}

// OfferDeflate returns the Sec-WebSocket-Extensions value with which a
// client offers permessage-deflate configured by cfg, or "" when cfg is
// nil.
//
// The client always compresses without context takeover and says so. It
// offers client_max_window_bits, with cfg.CompressWindowBits as its value
// when that is below 15, so that the server may bound the client's window:
// the client keeps any window by sending messages longer than it
// uncompressed. It asks the server for server_no_context_takeover unless
// cfg.ContextTakeover is set; then, with cfg.MaxWindowBits below 15, it
// offers first a bounded server window and then, for servers that cannot
// shrink their window, no server context takeover.
func OfferDeflate(cfg *DeflateConfig) string {
	if cfg == nil {
		return ""
	}
	own := deflateName + "; " + paramClientNoContext + "; " + paramClientMaxWindow
	if bits := windowBits(cfg.CompressWindowBits); bits < 15 {
		own += "=" + strconv.Itoa(bits)
	}
	noContext := own + "; " + paramServerNoContext
	if !cfg.ContextTakeover {
		return noContext
	}
	bits := windowBits(cfg.MaxWindowBits)
	if bits == 15 {
		return own
	}
	return own + "; " + paramServerMaxWindow + "=" + strconv.Itoa(bits) + ", " + noContext
}

// CheckExtensions validates the Sec-WebSocket-Extensions of a server's
// answer to a client that offered permessage-deflate configured by offer
// (nil: it offered no extension) with OfferDeflate, and returns the
// parameters to put in Config.Deflate, or nil when the server did not
// accept the offer.
//
// It fails with a *HandshakeError, whose Status is the response's status
// code, if the server selected an extension that was not offered, selected
// permessage-deflate twice, or answered with a malformed header, an unknown
// or repeated parameter, a bad value, a client_max_window_bits larger
// than the offer's, or context takeover on its side or a window that the
// offer excluded. A server window below 15 bits is fine otherwise: any
// window up to 32 KiB decompresses. A client window below 15 bits, the
// offer's or the server's, has messages longer than it sent uncompressed.
func CheckExtensions(resp *http.Response, offer *DeflateConfig) (*Deflate, error) {
	fail := func(reason string) (*Deflate, error) {
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: reason}
	}
	exts := parseExtensions(resp.Header)
	if len(exts) == 0 {
		return nil, nil
	}
	for _, e := range exts {
		if offer == nil || e.name != "" && !strings.EqualFold(e.name, deflateName) {
			return fail("the server selected an extension that was not offered")
		}
	}
	if len(exts) > 1 {
		return fail("the server selected permessage-deflate more than once")
	}
	e := exts[0]
	if e.bad {
		return fail("malformed Sec-WebSocket-Extensions header")
	}
	var (
		seen            [4]bool
		serverNoContext bool
		serverBits      = 15
		clientBits      = windowBits(offer.CompressWindowBits)
	)
	for _, p := range e.params {
		var k int
		switch p.name {
		case paramServerNoContext:
			k = 0
			serverNoContext = true
			if p.hasValue {
				return fail("permessage-deflate parameter " + p.name + " with a value")
			}
		case paramClientNoContext:
			k = 1
			if p.hasValue {
				return fail("permessage-deflate parameter " + p.name + " with a value")
			}
		case paramServerMaxWindow:
			k = 2
			bits, ok := parseWindowBits(p.value)
			if !ok {
				return fail("permessage-deflate parameter " + p.name + " with a bad value")
			}
			serverBits = bits
		case paramClientMaxWindow:
			k = 3
			bits, ok := parseWindowBits(p.value)
			if !ok {
				return fail("permessage-deflate parameter " + p.name + " with a bad value")
			}
			if bits > clientBits {
				return fail("the server's client_max_window_bits is larger than the offer's")
			}
			clientBits = bits
		default:
			return fail("unknown permessage-deflate parameter " + strconv.Quote(p.name))
		}
		if seen[k] {
			return fail("permessage-deflate parameter " + p.name + " repeated")
		}
		seen[k] = true
	}
	d := &Deflate{Level: offer.Level, Threshold: offer.Threshold, WindowBits: clientBits}
	if !serverNoContext {
		if !offer.ContextTakeover {
			return fail("the server kept context takeover, which the offer excluded")
		}
		if serverBits > windowBits(offer.MaxWindowBits) {
			return fail("the server's window is larger than the offer allowed")
		}
		d.PeerContextTakeover, d.PeerWindowBits = true, serverBits
	}
	return d, nil
}
