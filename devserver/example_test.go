package devserver_test

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pistoke/pistoke/devserver"
)

func ExampleParseVerbosity() {
	for _, v := range []string{"0", "warning", "info", "3", "loud"} {
		level, err := devserver.ParseVerbosity(v)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(v, "→", level)
	}
	// Output:
	// 0 → ERROR+4
	// warning → WARN
	// info → INFO
	// 3 → DEBUG-4
	// unknown verbosity "loud": want 0-3, critical, error, warning, info, debug or trace
}

func ExampleNewLogHandler() {
	logger := slog.New(devserver.NewLogHandler(os.Stdout, &devserver.LogOptions{
		Level:    devserver.LevelTrace,
		Color:    devserver.ColorNever,
		OmitTime: true, // for a stable output here; leave it out to see the time
	}))
	logger.Info(devserver.RequestMessage, "method", "GET", "path", "/", "status", 200, "size", 5120, "duration", 2*time.Millisecond)
	logger.Info("pistoke: socket closed", "path", "/chat", "code", 1000, "reason", "", "by", "client",
		"duration", 90*time.Second, "messages_in", 3, "messages_out", 3, "bytes_in", 30, "bytes_out", 30)
	logger.Warn("cache: slow", "key", "user:7", "took", 300*time.Millisecond)
	// Output:
	// INFO  GET / 200 5.0KiB 2.00ms
	// INFO  socket closed /chat 1000 by client after 1m30s, 3 in (30B), 3 out (30B)
	// WARN  cache: slow key=user:7 took=300ms
}
