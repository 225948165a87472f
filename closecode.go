package pistoke

import "net/http"

// Close codes of RFC 6455 section 7.4 that pistoke sends or reports.
// Codes 4000-4999 are for applications; pistoke uses 4000+status when
// middleware inside a protocol refuses a connection with an HTTP status.
const (
	CloseNormal          = 1000 // the handler returned; the purpose is fulfilled
	CloseGoingAway       = 1001 // the server is shutting down or the page is leaving
	CloseProtocolError   = 1002 // the peer broke RFC 6455
	CloseUnsupportedData = 1003 // a message type the endpoint cannot accept
	CloseNoStatus        = 1005 // reported only: the close frame had no code
	CloseAbnormal        = 1006 // reported only: no close frame, the connection broke
	CloseInvalidPayload  = 1007 // text that is not UTF-8, or a message that does not decode
	ClosePolicyViolation = 1008 // a policy of the endpoint was broken
	CloseMessageTooBig   = 1009 // a message over the read limit
	CloseInternalError   = 1011 // the handler returned an error or panicked
	CloseServiceRestart  = 1012 // the server is restarting
	CloseTryAgainLater   = 1013 // the server is overloaded
)

// CloseStatusBase is added to an HTTP status written by middleware inside
// a protocol to form the close code: 403 becomes 4403.
const CloseStatusBase = 4000

var closeTexts = map[int]string{
	CloseNormal:          "normal closure",
	CloseGoingAway:       "going away",
	CloseProtocolError:   "protocol error",
	CloseUnsupportedData: "unsupported data",
	CloseNoStatus:        "no status received",
	CloseAbnormal:        "abnormal closure",
	CloseInvalidPayload:  "invalid payload data",
	ClosePolicyViolation: "policy violation",
	CloseMessageTooBig:   "message too big",
	1010:                 "mandatory extension",
	CloseInternalError:   "internal error",
	CloseServiceRestart:  "service restart",
	CloseTryAgainLater:   "try again later",
	1014:                 "bad gateway",
}

// CloseText returns a short English description of a close code. For
// codes 4100-4999 built from an HTTP status it returns the status text.
func CloseText(code int) string {
	if t, ok := closeTexts[code]; ok {
		return t
	}
	if code >= CloseStatusBase+100 && code < CloseStatusBase+1000 {
		if t := http.StatusText(code - CloseStatusBase); t != "" {
			return t
		}
	}
	switch {
	case code >= 3000 && code < 4000:
		return "registered"
	case code >= 4000 && code < 5000:
		return "application"
	}
	return "unknown"
}
