package serde

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Msgpack returns a serde of T in MessagePack (github.com/vmihailenco/msgpack/v5), the
// default for structs: smaller and faster than JSON while still self-describing, so
// adding a field does not break old records. Struct fields are named by their msgpack
// tag, else their json tag, else their Go name, so a struct tagged for JSON needs no
// second set of tags. Map keys of the common string-keyed maps are sorted, so equal
// values encode to equal bytes and a struct can serve as a grouping key.
//
// Kafka's null is not msgpack's nil: encoding a nil pointer gives the msgpack nil byte,
// not a tombstone (wrap with Nullable for that), and decoding nil bytes fails with
// ErrNull. Decoding requires exactly one msgpack value; malformed, truncated or trailing
// bytes, arrays and maps nested more than 10000 deep, and arrays and maps claiming more
// items than the input could hold fail with ErrDecode.
func Msgpack[T any]() Serde[T] { return msgpackSerde[T]{} }

type msgpackSerde[T any] struct{}

// fallbackTag is the struct tag msgpack reads when a field has no msgpack tag.
const fallbackTag = "json"

func (msgpackSerde[T]) Encode(v T) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf) // clears settings a previous user of the pool left behind
	enc.SetCustomStructTag(fallbackTag)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: msgpack: %w", ErrEncode, err)
	}
	return buf.Bytes(), nil
}

func (msgpackSerde[T]) Decode(b []byte) (v T, err error) {
	if b == nil {
		return v, nullErr("msgpack")
	}
	// The decoder is third-party code fed untrusted bytes; a panic in it must reach the
	// caller as a bad record, not crash the task.
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, decodeErr("msgpack: %v", p)
		}
	}()
	if err := checkMsgpackShape(b, maxMsgpackDepth); err != nil {
		return v, err
	}
	r := bytes.NewReader(b) // an io.ByteScanner, so the decoder reads no further than it needs
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	dec.SetCustomStructTag(fallbackTag)
	if err := dec.Decode(&v); err != nil {
		var zero T
		return zero, decodeErr("msgpack: %w", err)
	}
	if r.Len() != 0 {
		var zero T
		return zero, decodeErr("msgpack: %d trailing bytes", r.Len())
	}
	return v, nil
}
