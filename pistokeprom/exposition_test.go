package pistokeprom_test

import (
	"fmt"
	"strings"
)

// families holds the HELP text and type of each family, as pistokeprom
// registers them under the default namespace.
var families = map[string]struct{ help, typ string }{
	"connections_open":            {"WebSocket connections currently open.", "gauge"},
	"handshakes_total":            {"WebSocket handshakes that reached the handler, by how they ended.", "counter"},
	"messages_received_total":     {"Data messages read from clients, by type.", "counter"},
	"messages_sent_total":         {"Data messages written to clients, by type.", "counter"},
	"received_bytes_total":        {"Payload bytes of the data messages read from clients.", "counter"},
	"sent_bytes_total":            {"Payload bytes of the data messages written to clients.", "counter"},
	"send_dropped_total":          {"Connections closed because they could not keep up with the messages sent to them.", "counter"},
	"closes_total":                {`Connections ended, by close code and by who ended them (server, client or network). Codes a client chose outside 1000-1015 count as "other".`, "counter"},
	"connection_duration_seconds": {"How long WebSocket connections stayed open, from upgrade to end.", "histogram"},
}

// exposition returns the expected text exposition of one family, for
// testutil.CollectAndCompare: its HELP and TYPE lines, then one line per
// sample, each the rest of the line after the family's name
// (`{type="text"} 1`, ` 0`, `_sum 2`). namespace prefixes name.
func exposition(namespace, name string, samples ...string) string {
	f, ok := families[name]
	if !ok {
		panic("exposition: unknown family " + name)
	}
	full := namespace + "_" + name
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", full, f.help, full, f.typ)
	for _, s := range samples {
		b.WriteString(full + s + "\n")
	}
	return b.String()
}

// handshakes returns the exposition of pistoke_handshakes_total, which
// lists every outcome: those in counts with their count, the rest at 0.
func handshakes(counts map[string]int) string {
	var samples []string
	for _, o := range []string{"accepted", "bad_request", "draining", "failed", "origin", "overloaded", "rejected", "subprotocol"} {
		samples = append(samples, fmt.Sprintf(`{outcome=%q} %d`, o, counts[o]))
	}
	return exposition("pistoke", "handshakes_total", samples...)
}

// messages returns the exposition of pistoke_messages_{dir}_total.
func messages(dir string, text, binary int) string {
	return exposition("pistoke", "messages_"+dir+"_total",
		fmt.Sprintf(`{type="binary"} %d`, binary), fmt.Sprintf(`{type="text"} %d`, text))
}
