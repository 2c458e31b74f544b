package serde

import (
	"encoding/json"
	"fmt"
)

// JSON returns a serde of T through encoding/json, for topics read by programs in other
// languages. Kafka's null is not JSON's null: encoding a nil pointer, slice or map gives
// the four bytes "null", not a tombstone (wrap with Nullable for that), and decoding nil
// bytes fails with ErrNull. Decoding requires exactly one JSON value; trailing data,
// invalid JSON and type mismatches fail with ErrDecode. Values JSON cannot represent
// (NaN, channels, ...) fail with ErrEncode.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Encode(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: json: %w", ErrEncode, err)
	}
	return b, nil
}

func (jsonSerde[T]) Decode(b []byte) (T, error) {
	var v T
	if b == nil {
		return v, nullErr("json")
	}
	if err := json.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, decodeErr("json: %w", err)
	}
	return v, nil
}
