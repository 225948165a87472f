package pistokeprom_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pistoke/pistoke"
	"github.com/pistoke/pistoke/pistokeprom"
)

// A server registers the metrics with its own registry and serves them on
// /metrics for Prometheus to scrape. Here pistoke's calls are made by hand
// to show what the scrape then returns.
func Example() {
	reg := prometheus.NewRegistry()
	m := pistokeprom.New(pistokeprom.Opts{Registerer: reg})
	// In a server: pistoke.Handler(mux, pistoke.Options{Metrics: m}).

	m.Handshake(pistoke.HandshakeAccepted)
	m.Opened()
	m.Received(pistoke.Text, 5)
	m.Sent(pistoke.Text, 5)
	m.Closed(pistoke.CloseInfo{Code: pistoke.CloseNormal, By: "client"})

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pistoke_") && !strings.HasPrefix(line, "pistoke_connection_duration_seconds_bucket") &&
			!strings.HasSuffix(line, " 0") {
			fmt.Println(line)
		}
	}
	// Output:
	// pistoke_closes_total{by="client",code="1000"} 1
	// pistoke_connection_duration_seconds_count 1
	// pistoke_handshakes_total{outcome="accepted"} 1
	// pistoke_messages_received_total{type="text"} 1
	// pistoke_messages_sent_total{type="text"} 1
	// pistoke_received_bytes_total 5
	// pistoke_sent_bytes_total 5
}
