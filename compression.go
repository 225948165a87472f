package pistoke

import "github.com/pistoke/pistoke/internal/wire"

// Compression turns on permessage-deflate (RFC 7692): in
// [Options.Compression] for the sockets of a server, in
// [DialOptions.Compression] for a client. It is off by default:
// compression costs CPU on every message and pays off for text and JSON
// larger than a few hundred bytes.
//
// The server negotiates what it can honour and declines the rest, without
// ever failing a handshake over it. It compresses every message on its
// own, so compressors are pooled and an idle connection holds none, and
// it asks clients to do the same unless ContextTakeover is set. A client
// may ask for a smaller window than 32 KiB (server_max_window_bits 8 to
// 15): messages that fit in that window are then compressed, and longer
// ones sent uncompressed, as RFC 7692 allows. A message whose
// decompressed size exceeds the read limit closes the connection with
// 1009 before it is inflated further, so that a small compressed message
// cannot exhaust memory.
type Compression struct {
	// Level is the compress/flate level of sent messages; 0 means
	// flate.BestSpeed.
	Level int

	// Threshold is the size, in bytes, below which messages are sent
	// uncompressed; 0 means 128, negative compresses every message. A
	// message that would not shrink is always sent uncompressed.
	Threshold int

	// ContextTakeover lets the peer compress each message with references
	// to earlier ones, which shrinks streams of small similar messages
	// much further, at the price of keeping its last 2^MaxWindowBits
	// decompressed bytes (32 KiB by default) per connection. On a server
	// the peer is the client; in DialOptions it is the server, which is
	// otherwise asked for server_no_context_takeover (a server that
	// refuses then fails the handshake, as RFC 7692 requires). pistoke
	// itself always compresses each message on its own.
	ContextTakeover bool

	// MaxWindowBits bounds that window to 2^MaxWindowBits bytes, 8 to 15;
	// 0 means 15.
	MaxWindowBits int

	// CompressWindowBits is, for a client, the window it offers to
	// compress its own messages with (client_max_window_bits), 8 to 15;
	// 0 means 15. Messages longer than the window the server agrees to
	// are sent uncompressed. Servers ignore it.
	CompressWindowBits int
}

// wireConfig is c for the engine; nil when compression is off.
func (c *Compression) wireConfig() *wire.DeflateConfig {
	if c == nil {
		return nil
	}
	return &wire.DeflateConfig{
		Level:           c.Level,
		Threshold:       c.Threshold,
		ContextTakeover: c.ContextTakeover,
		MaxWindowBits:   c.MaxWindowBits,

		CompressWindowBits: c.CompressWindowBits,
	}
}
