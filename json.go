package pistoke

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Codec turns values into message bytes and back, for SendJSON and
// ReceiveJSON. Set one on [Protocol.Codec] to change how numbers, times
// or unknown fields are handled, or to use another JSON library.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec, built on encoding/json. HTML characters are
// not escaped: a socket message is not embedded in a page.
type JSON struct {
	// UseNumber decodes numbers into interface values as json.Number
	// rather than float64, so decimals such as 0.1 stay exact.
	UseNumber bool
	// DisallowUnknownFields makes decoding into a struct fail on fields
	// it does not have.
	DisallowUnknownFields bool
}

// Marshal encodes v.
func (j JSON) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Unmarshal decodes exactly one JSON value from data into v.
func (j JSON) Unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if j.UseNumber {
		dec.UseNumber()
	}
	if j.DisallowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid character after top-level value")
	}
	return nil
}

func (c *Conn) jsonCodec() Codec {
	if c.codec == nil {
		return JSON{}
	}
	return c.codec
}

// SendJSON encodes v with the protocol's codec and sends it as a text
// message.
func (c *Conn) SendJSON(v any) error {
	p, err := c.jsonCodec().Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(Text, p)
}

// ReceiveJSON receives one message and decodes it into v with the
// protocol's codec. A message that does not decode closes the connection
// with 1007 (invalid payload data): ReceiveJSON then returns a
// [*CloseError] with that code, which the handler can simply return.
func (c *Conn) ReceiveJSON(v any) error {
	_, p, err := c.Receive()
	if err != nil {
		return err
	}
	if err := c.jsonCodec().Unmarshal(p, v); err != nil {
		reason := "invalid JSON: " + err.Error()
		_ = c.Close(CloseInvalidPayload, reason)
		return &CloseError{Code: CloseInvalidPayload, Reason: reason}
	}
	return nil
}
