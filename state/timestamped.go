package state

import "github.com/eddy-io/eddy/serde"

// TimestampedKeyValueStore is the store of a table: each value carries the timestamp of
// the record that last set it, in Kafka Streams' timestamped layout (see
// serde.WithTimestamp).
type TimestampedKeyValueStore[K, V any] = KeyValueStore[K, serde.ValueAndTimestamp[V]]

// NewTimestampedKeyValueStore returns a key-value store of values with timestamps; values
// is the serde of the bare value.
func NewTimestampedKeyValueStore[K, V any](name string, engine Engine, keys serde.Serde[K], values serde.Serde[V], opts ...Option) *TimestampedKeyValueStore[K, V] {
	return NewKeyValueStore(name, engine, keys, serde.WithTimestamp(values), opts...)
}

// TimestampedWindowStore is the store of a windowed table (a windowed aggregation): each
// window's value carries the timestamp of the record that last updated it.
type TimestampedWindowStore[K, V any] = WindowStore[K, serde.ValueAndTimestamp[V]]

// NewTimestampedWindowStore returns a window store of values with timestamps; values is
// the serde of the bare value.
func NewTimestampedWindowStore[K, V any](name string, engine Engine, keys serde.Serde[K], values serde.Serde[V], cfg WindowConfig, opts ...Option) (*TimestampedWindowStore[K, V], error) {
	return NewWindowStore(name, engine, keys, serde.WithTimestamp(values), cfg, opts...)
}
