package state

import (
	"encoding/binary"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

func TestTimestampedKeyValueStore(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		e := openStoreEngine(t, p, "table")
		s := NewTimestampedKeyValueStore("table", e, serde.String(), serde.Int64(), opts...)
		defer s.Close()
		mustOK(t, s.Put("k", serde.ValueAndTimestamp[int64]{Value: 7, Timestamp: 1000}))
		got, found, err := s.Get("k")
		if err != nil || !found || got.Value != 7 || got.Timestamp != 1000 {
			t.Fatalf("Get = %+v, %v, %v", got, found, err)
		}
		mustOK(t, s.Flush())
		// Kafka Streams' layout: the timestamp, 8 bytes big-endian, then the value.
		raw, found, err := e.Get([]byte("k"))
		if err != nil || !found || len(raw) != 16 || binary.BigEndian.Uint64(raw) != 1000 || binary.BigEndian.Uint64(raw[8:]) != 7 {
			t.Fatalf("stored bytes %x, %v, %v", raw, found, err)
		}
	})
}

func TestTimestampedWindowStore(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s, err := NewTimestampedWindowStore("agg", openStoreEngine(t, p, "agg"), serde.String(), serde.Int64(), WindowConfig{WindowSize: 100, Retention: 1000}, opts...)
		mustOK(t, err)
		defer s.Close()
		mustOK(t, s.Put("k", serde.ValueAndTimestamp[int64]{Value: 3, Timestamp: 150}, 100))
		kvs, err := collectKV(s.Fetch("k", 0, 1000))
		mustOK(t, err)
		if len(kvs) != 1 || kvs[0].Key != (serde.Windowed[string]{Key: "k", Start: 100, End: 200}) || kvs[0].Value.Value != 3 || kvs[0].Value.Timestamp != 150 {
			t.Fatalf("Fetch = %+v", kvs)
		}
	})
}
