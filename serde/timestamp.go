package serde

import (
	"encoding/binary"
	"fmt"
)

// ValueAndTimestamp is a value with the timestamp, in milliseconds since the epoch, of
// the record that last set it: what a table's store holds per key.
type ValueAndTimestamp[V any] struct {
	// Value is the value.
	Value V
	// Timestamp is the record time of the last update.
	Timestamp int64
}

// WithTimestamp returns the serde of a value with its timestamp, in the layout of Kafka
// Streams' timestamped stores: the timestamp as 8 bytes big-endian, then the bytes of
// inner. A value that inner encodes to null makes the whole encoding null, as in Kafka,
// so a tombstone stays a tombstone (and its timestamp is dropped); decoding null hands
// null to inner, so with a Nullable inner it gives a nil Value and Timestamp 0, and with
// any other inner an ErrNull error.
func WithTimestamp[V any](inner Serde[V]) Serde[ValueAndTimestamp[V]] {
	return timestampedSerde[V]{inner}
}

type timestampedSerde[V any] struct{ inner Serde[V] }

func (s timestampedSerde[V]) Encode(v ValueAndTimestamp[V]) ([]byte, error) {
	value, err := s.inner.Encode(v.Value)
	if err != nil || value == nil {
		return nil, err
	}
	b := make([]byte, 0, 8+len(value))
	b = binary.BigEndian.AppendUint64(b, uint64(v.Timestamp))
	return append(b, value...), nil
}

func (s timestampedSerde[V]) Decode(b []byte) (ValueAndTimestamp[V], error) {
	var v ValueAndTimestamp[V]
	var err error
	if b == nil {
		v.Value, err = s.inner.Decode(nil)
		return v, err
	}
	if len(b) < 8 {
		return v, decodeErr("value and timestamp: %d bytes, want at least 8", len(b))
	}
	if v.Value, err = s.inner.Decode(b[8:]); err != nil {
		return ValueAndTimestamp[V]{}, fmt.Errorf("value and timestamp: %w", err)
	}
	v.Timestamp = int64(binary.BigEndian.Uint64(b))
	return v, nil
}
