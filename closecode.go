package pistoke

import "net/http"

// Close codes that pistoke sends or reports (RFC 6455 section 7.4), the
// same values the codec uses. Other codes are plain numbers: 1000-1014
// from the registry, 3000-3999 registered by libraries, 4000-4999 for
// applications, of which pistoke uses 4000+status (CloseStatusBase) when
// middleware inside a protocol refuses a connection with an HTTP status.
const (
	CloseNormal          = 1000 // the handler returned; the purpose is fulfilled
	CloseGoingAway       = 1001 // the server drains, or the page is leaving
	CloseProtocolError   = 1002 // the peer broke RFC 6455
	CloseNoStatus        = 1005 // reported only: the close frame had no code
	CloseAbnormal        = 1006 // reported only: no close frame, the connection broke
	CloseInvalidPayload  = 1007 // text that is not UTF-8, or a message that does not decode
	ClosePolicyViolation = 1008 // a policy was broken: a slow consumer, say
	CloseMessageTooBig   = 1009 // a message over the read limit
	CloseInternalError   = 1011 // the handler returned an error or panicked
	CloseStatusBase      = 4000 // plus an HTTP status: 403 becomes 4403
)

var closeTexts = map[int]string{
	CloseNormal:          "normal closure",
	CloseGoingAway:       "going away",
	CloseProtocolError:   "protocol error",
	1003:                 "unsupported data",
	CloseNoStatus:        "no status received",
	CloseAbnormal:        "abnormal closure",
	CloseInvalidPayload:  "invalid payload data",
	ClosePolicyViolation: "policy violation",
	CloseMessageTooBig:   "message too big",
	1010:                 "mandatory extension",
	CloseInternalError:   "internal error",
	1012:                 "service restart",
	1013:                 "try again later",
	1014:                 "bad gateway",
}

// closeText returns a short English description of a close code. For
// codes 4100-4999 built from an HTTP status it returns the status text.
func closeText(code int) string {
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
