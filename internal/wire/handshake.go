package wire

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// HandshakeError reports an opening handshake that cannot succeed. On the
// server side Status is the HTTP status to answer with and Header holds
// headers the answer must carry; on the client side Status is the status
// code of the server's response.
type HandshakeError struct {
	Status int
	Reason string
	Header http.Header
}

func (e *HandshakeError) Error() string {
	return "websocket: handshake failed (" + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + "): " + e.Reason
}

// acceptGUID is the fixed GUID of RFC 6455 section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for the client's
// Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewKey returns a fresh Sec-WebSocket-Key for a client: 16 random bytes,
// base64-encoded.
func NewKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// hasToken reports whether a comma-separated list in any of the header's
// lines contains token, compared without regard to case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(part, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// IsUpgrade reports whether r asks to be upgraded to WebSocket: one of its
// Upgrade headers lists the token "websocket", in any case. It says nothing
// about whether the rest of the handshake is valid; see CheckRequest.
func IsUpgrade(r *http.Request) bool {
	return hasToken(r.Header, "Upgrade", "websocket")
}

// CheckRequest validates a client's opening handshake (RFC 6455 section
// 4.2.1) and returns its Sec-WebSocket-Key. The request must be an
// HTTP/1.1 (or later) GET whose Upgrade headers list "websocket" and whose
// Connection headers list "upgrade" (tokens compared without regard to
// case), with Sec-WebSocket-Version 13 and a Sec-WebSocket-Key that is the
// base64 encoding of 16 bytes.
//
// On failure it returns a *HandshakeError whose Status is the answer to
// give: 405 (with an Allow header) for another method, 426 (with
// Sec-WebSocket-Version: 13) for a missing or other version, else 400.
func CheckRequest(r *http.Request) (key string, err error) {
	if r.Method != http.MethodGet {
		return "", &HandshakeError{
			Status: http.StatusMethodNotAllowed,
			Reason: "the opening handshake must use GET, not " + r.Method,
			Header: http.Header{"Allow": {http.MethodGet}},
		}
	}
	if !r.ProtoAtLeast(1, 1) {
		return "", badRequest("the opening handshake needs HTTP/1.1 or later")
	}
	if !hasToken(r.Header, "Upgrade", "websocket") {
		return "", badRequest(`missing "Upgrade: websocket" header`)
	}
	if !hasToken(r.Header, "Connection", "upgrade") {
		return "", badRequest(`missing "Connection: upgrade" header`)
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", &HandshakeError{
			Status: http.StatusUpgradeRequired,
			Reason: "unsupported or missing Sec-WebSocket-Version (want 13)",
			Header: http.Header{"Sec-Websocket-Version": {"13"}},
		}
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", badRequest("there must be exactly one Sec-WebSocket-Key header")
	}
	key = strings.TrimSpace(keys[0])
	if !validKey(key) {
		return "", badRequest("Sec-WebSocket-Key is not the base64 encoding of 16 bytes")
	}
	return key, nil
}

// validKey reports whether key is the base64 encoding of 16 bytes.
func validKey(key string) bool {
	// 16 bytes encode to 22 characters and "==".
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

func badRequest(reason string) *HandshakeError {
	return &HandshakeError{Status: http.StatusBadRequest, Reason: reason}
}

// Subprotocols returns the subprotocols a client offers in its
// Sec-WebSocket-Protocol headers, in its order of preference: the entries
// of all lines' comma-separated lists, trimmed, without empty ones.
func Subprotocols(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.Trim(part, " \t"); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// AppendResponse appends to dst the server's successful handshake
// response: "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection
// and Sec-WebSocket-Accept (accept, from AcceptKey), Sec-WebSocket-Protocol when
// subprotocol is not empty, then the extra headers (sorted by name) and the
// blank line that ends the response.
//
// Extra headers named Upgrade, Connection, Sec-WebSocket-Accept or
// Sec-WebSocket-Protocol are skipped, since the handshake sets them, as are
// headers with invalid names; line breaks in values become spaces.
func AppendResponse(dst []byte, accept, subprotocol string, extra http.Header) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, accept...)
	dst = append(dst, "\r\n"...)
	if subprotocol != "" {
		dst = appendHeader(dst, "Sec-WebSocket-Protocol", subprotocol)
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !validHeaderName(name) {
			continue
		}
		switch http.CanonicalHeaderKey(name) {
		case "Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol":
			continue
		}
		for _, v := range extra[name] {
			dst = appendHeader(dst, name, v)
		}
	}
	return append(dst, "\r\n"...)
}

// appendHeader appends one header line, with line breaks in the value
// replaced by spaces so that a value cannot inject header lines.
func appendHeader(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	value = strings.TrimSpace(value)
	for i := 0; i < len(value); i++ {
		b := value[i]
		if b == '\r' || b == '\n' {
			b = ' '
		}
		dst = append(dst, b)
	}
	return append(dst, "\r\n"...)
}

// validHeaderName reports whether name is an HTTP token (RFC 9110
// section 5.6.2).
func validHeaderName(name string) bool { return isToken(name) }

// CheckResponse validates a server's answer to a client's opening
// handshake made with key and offering the subprotocols offered (RFC 6455
// section 4.1): status 101, Upgrade listing "websocket", Connection listing
// "upgrade", Sec-WebSocket-Accept matching key, and a subprotocol, if any,
// that was offered. It returns the chosen subprotocol, or "" for none.
//
// It does not look at Sec-WebSocket-Extensions: CheckExtensions does,
// and a client must call it too, even when it offered no extension.
//
// Failures are *HandshakeError values whose Status is the response's
// status code.
func CheckResponse(resp *http.Response, key string, offered []string) (subprotocol string, err error) {
	fail := func(reason string) (string, error) {
		return "", &HandshakeError{Status: resp.StatusCode, Reason: reason}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fail("the server did not switch protocols")
	}
	if !hasToken(resp.Header, "Upgrade", "websocket") {
		return fail(`missing "Upgrade: websocket" header`)
	}
	if !hasToken(resp.Header, "Connection", "upgrade") {
		return fail(`missing "Connection: upgrade" header`)
	}
	if v := resp.Header.Values("Sec-WebSocket-Accept"); len(v) != 1 || strings.TrimSpace(v[0]) != AcceptKey(key) {
		return fail("Sec-WebSocket-Accept does not match the key")
	}
	v := resp.Header.Values("Sec-WebSocket-Protocol")
	switch {
	case len(v) == 0:
		return "", nil
	case len(v) > 1 || strings.Contains(v[0], ","):
		return fail("the server selected more than one subprotocol")
	}
	sub := strings.TrimSpace(v[0])
	if sub == "" {
		return "", nil
	}
	if !slices.Contains(offered, sub) {
		return fail("the server selected subprotocol " + strconv.Quote(sub) + ", which was not offered")
	}
	return sub, nil
}
