package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

// BenchmarkKeyValueStore measures a typed store on the Badger engine without a cache,
// with one that holds part of the keys (Kafka Streams' default 10 MiB against about 24
// MiB of entries) and with one that holds all of them: puts of 100-byte values with a
// commit every 1,000, then gets in random order, as the benchmark report does.
func BenchmarkKeyValueStore(b *testing.B) {
	const keys, commitEvery = 100_000, 1000
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("key-%08d", i)
	}
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"typed", nil},
		{"cache=10MiB", []Option{WithCaching(10 << 20)}},
		{"cache=64MiB", []Option{WithCaching(64 << 20)}},
	} {
		open := func(b *testing.B) *KeyValueStore[string, []byte] {
			p, err := NewBadgerProvider(b.TempDir(), BadgerOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = p.Close() })
			e, err := p.Open("0_0", "bench")
			if err != nil {
				b.Fatal(err)
			}
			s := NewKeyValueStore("bench", e, serde.String(), serde.Bytes(), bc.opts...)
			b.Cleanup(func() { _ = s.Close() })
			return s
		}
		put := func(b *testing.B, s *KeyValueStore[string, []byte], n int) {
			for i := range n {
				value := make([]byte, 100)
				value[0] = byte(i)
				if err := s.Put(names[i%keys], value); err != nil {
					b.Fatal(err)
				}
				if (i+1)%commitEvery == 0 {
					if err := s.Commit(map[string]int64{"c": int64(i)}); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.Run(bc.name+"/put", func(b *testing.B) {
			s := open(b)
			b.ReportAllocs()
			b.ResetTimer()
			put(b, s, b.N)
		})
		b.Run(bc.name+"/get", func(b *testing.B) {
			s := open(b)
			put(b, s, keys)
			if err := s.Commit(nil); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, found, err := s.Get(names[rng.IntN(keys)]); err != nil || !found {
					b.Fatal(found, err)
				}
			}
		})
	}
}

// commitEvery commits s after every 1,000th record, as a task's commit interval would.
func commitEvery(b *testing.B, s *WindowStore[string, string], i int) {
	if (i+1)%1000 == 0 {
		if err := s.Commit(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindowStore measures what windowed operators do per record on the memory
// engine: a stream-stream join's Fetch of the other side's recent windows of a key
// followed by a Put, and a windowed aggregation's Get then Put of one window, over 1024
// keys with records 1 ms apart, committing every 1,000 records.
func BenchmarkWindowStore(b *testing.B) {
	const keys = 1024
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("key-%04d", i)
	}
	open := func(b *testing.B, cfg WindowConfig) *WindowStore[string, string] {
		p := NewMemoryProvider()
		b.Cleanup(func() { _ = p.Close() })
		e, err := p.Open("0_0", "bench")
		if err != nil {
			b.Fatal(err)
		}
		s, err := NewWindowStore("bench", e, serde.String(), serde.String(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Run("fetch-put", func(b *testing.B) {
		s := open(b, WindowConfig{WindowSize: 100, Retention: 200, RetainDuplicates: true})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ts, k := int64(i), names[i%keys]
			it, err := s.Fetch(k, ts-100, ts+100)
			if err != nil {
				b.Fatal(err)
			}
			for it.Next() {
			}
			if err := errors.Join(it.Err(), it.Close()); err != nil {
				b.Fatal(err)
			}
			if err := s.Put(k, "value", ts); err != nil {
				b.Fatal(err)
			}
			commitEvery(b, s, i)
		}
	})
	b.Run("get-put", func(b *testing.B) {
		s := open(b, WindowConfig{WindowSize: 1000, Retention: 1000})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			start, k := int64(i)/1000*1000, names[i%keys]
			if _, _, err := s.Get(k, start); err != nil {
				b.Fatal(err)
			}
			if err := s.Put(k, "count", start); err != nil {
				b.Fatal(err)
			}
			commitEvery(b, s, i)
		}
	})
}
