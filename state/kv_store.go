package state

import (
	"bytes"
	"fmt"

	"github.com/eddy-io/eddy/serde"
)

// Option adds a layer between a typed store and its engine. The layers stack as in Kafka
// Streams: typed store, then the record cache, then changelogging, then the engine; so
// the changelog sees only what the cache passes down.
type Option func(*layerConfig)

type layerConfig struct {
	sink       ChangelogSink
	cacheBytes int64
	caching    bool
}

// WithLogging reports every write that reaches the engine to sink.
func WithLogging(sink ChangelogSink) Option {
	return func(c *layerConfig) { c.sink = sink }
}

// WithCaching puts a record cache of at most maxBytes bytes (keys, values and a fixed
// per-entry overhead) in front of the store. Writes reach the layers below on Flush,
// Commit or eviction.
func WithCaching(maxBytes int64) Option {
	return func(c *layerConfig) { c.caching, c.cacheBytes = true, maxBytes }
}

// FlushListener receives each record a store's cache passes down (on Flush, Commit or
// eviction), after the layers below have taken it, with the value the store held before.
// A nil pointer is an absent value: newValue is nil for a delete, oldValue for a key
// that was new. Kafka Streams forwards these records downstream, one per key per commit.
type FlushListener[K, V any] func(key K, newValue, oldValue *V) error

// layers is the part every typed store shares: its name and the stack of byte-level
// layers over its engine.
type layers struct {
	name  string
	top   Engine
	cache *cachingEngine
}

func newLayers(name string, engine Engine, opts []Option) layers {
	var cfg layerConfig
	for _, o := range opts {
		o(&cfg)
	}
	l := layers{name: name, top: engine}
	if cfg.sink != nil {
		l.top = newLoggingEngine(l.top, cfg.sink)
	}
	if cfg.caching {
		l.cache = newCachingEngine(l.top, cfg.cacheBytes)
		l.top = l.cache
	}
	return l
}

// Name returns the store's name.
func (l *layers) Name() string { return l.name }

// Flush passes the cached writes down to the changelog and the engine, calling the
// flush listener for each. It does nothing without a cache.
func (l *layers) Flush() error {
	if l.cache == nil {
		return nil
	}
	return l.errorf(l.cache.Flush())
}

// Commit flushes, then makes every write durable together with offsets, the changelog
// offsets this state reflects (see Engine.Commit).
func (l *layers) Commit(offsets map[string]int64) error {
	return l.errorf(l.top.Commit(offsets))
}

// Close closes the store and its engine without flushing: writes since the last Commit
// are discarded, so a store closed after a failure is at its last commit.
func (l *layers) Close() error { return l.errorf(l.top.Close()) }

// setFlushListener installs a typed listener over the cache's byte-level one and
// reports whether the store has a cache; without one there is nothing to call it.
func setFlushListener[K, V any](l *layers, f FlushListener[K, V], decodeKey func([]byte) (K, error), values serde.Serde[V]) bool {
	if l.cache == nil {
		return false
	}
	if f == nil {
		l.cache.setListener(nil)
		return true
	}
	decodeValue := func(b []byte) (*V, error) {
		if b == nil {
			return nil, nil
		}
		v, err := values.Decode(b)
		if err != nil {
			return nil, l.corrupt("value", b, err)
		}
		return &v, nil
	}
	l.cache.setListener(func(key, newValue, oldValue []byte) error {
		k, err := decodeKey(key)
		if err != nil {
			return err
		}
		nv, err := decodeValue(newValue)
		if err != nil {
			return err
		}
		ov, err := decodeValue(oldValue)
		if err != nil {
			return err
		}
		return f(k, nv, ov)
	})
	return true
}

// errorf names the store in an error from the layers below.
func (l *layers) errorf(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("state: store %q: %w", l.name, err)
}

// corrupt reports stored bytes that do not decode; the error wraps both ErrCorrupt and
// the decoder's error (serde.ErrDecode for the built-in serdes).
func (l *layers) corrupt(what string, b []byte, err error) error {
	return fmt.Errorf("state: store %q: %w: %s %x: %w", l.name, ErrCorrupt, what, truncated(b), err)
}

// truncated shortens bytes quoted in an error.
func truncated(b []byte) []byte {
	const max = 32
	if len(b) > max {
		return b[:max]
	}
	return b
}

// encodeErr reports a value the store's serde could not encode.
func (l *layers) encodeErr(what string, err error) error {
	return fmt.Errorf("state: store %q: encode %s: %w", l.name, what, err)
}

// KeyValueStore is a typed, ordered key-value store over an Engine. Entries sort by the
// bytes of their encoded keys, so ranges and prefix scans follow the key serde's byte
// order (big-endian integers from serde.Int64 sort like unsigned numbers, for example;
// serde.OrderedInt64 sorts negatives first).
//
// A value that the value serde encodes to nil (a nil pointer with serde.Nullable, say)
// is Kafka's null: putting it deletes the key.
//
// Writes come from one goroutine (the task's); reads may come from others.
type KeyValueStore[K, V any] struct {
	layers
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// NewKeyValueStore returns the store name over engine, with the layers opts ask for.
// The store owns engine from then on: closing the store closes it.
func NewKeyValueStore[K, V any](name string, engine Engine, keys serde.Serde[K], values serde.Serde[V], opts ...Option) *KeyValueStore[K, V] {
	return &KeyValueStore[K, V]{layers: newLayers(name, engine, opts), keys: keys, values: values}
}

func (s *KeyValueStore[K, V]) encodeKey(key K) ([]byte, error) {
	b, err := s.keys.Encode(key)
	if err != nil {
		return nil, s.encodeErr("key", err)
	}
	if b == nil {
		return nil, s.encodeErr("key", fmt.Errorf("%w: null key", serde.ErrEncode))
	}
	return b, nil
}

func (s *KeyValueStore[K, V]) decodeKey(b []byte) (K, error) {
	k, err := s.keys.Decode(b)
	if err != nil {
		return k, s.corrupt("key", b, err)
	}
	return k, nil
}

func (s *KeyValueStore[K, V]) decodeValue(key, b []byte) (V, error) {
	if b == nil {
		b = []byte{} // a stored value is never null, only empty
	}
	v, err := s.values.Decode(b)
	if err != nil {
		return v, s.corrupt(fmt.Sprintf("value of key %x", truncated(key)), b, err)
	}
	return v, nil
}

// Get returns the value of key; found is false when it has none.
func (s *KeyValueStore[K, V]) Get(key K) (value V, found bool, err error) {
	kb, err := s.encodeKey(key)
	if err != nil {
		return value, false, err
	}
	b, found, err := s.top.Get(kb)
	if err != nil || !found {
		return value, false, s.errorf(err)
	}
	value, err = s.decodeValue(kb, b)
	return value, err == nil, err
}

// Put sets key to value.
func (s *KeyValueStore[K, V]) Put(key K, value V) error {
	kb, err := s.encodeKey(key)
	if err != nil {
		return err
	}
	vb, err := s.values.Encode(value)
	if err != nil {
		return s.encodeErr("value", err)
	}
	return s.putBytes(kb, vb)
}

func (s *KeyValueStore[K, V]) putBytes(kb, vb []byte) error {
	if vb == nil {
		return s.errorf(s.top.Delete(kb))
	}
	return s.errorf(s.top.Put(kb, vb))
}

// PutIfAbsent sets key to value unless key has a value already, which it returns with
// found set; then the store is unchanged.
func (s *KeyValueStore[K, V]) PutIfAbsent(key K, value V) (existing V, found bool, err error) {
	existing, found, err = s.Get(key)
	if err != nil || found {
		return existing, found, err
	}
	return existing, false, s.Put(key, value)
}

// Delete removes key; deleting a missing key is not an error.
func (s *KeyValueStore[K, V]) Delete(key K) error {
	kb, err := s.encodeKey(key)
	if err != nil {
		return err
	}
	return s.errorf(s.top.Delete(kb))
}

// PutAll puts each entry in order. Entries are encoded before any is written, so an
// entry that cannot be encoded leaves the store unchanged.
func (s *KeyValueStore[K, V]) PutAll(entries []KeyValue[K, V]) error {
	type encoded struct{ k, v []byte }
	enc := make([]encoded, len(entries))
	for i, e := range entries {
		kb, err := s.encodeKey(e.Key)
		if err != nil {
			return err
		}
		vb, err := s.values.Encode(e.Value)
		if err != nil {
			return s.encodeErr("value", err)
		}
		enc[i] = encoded{kb, vb}
	}
	for _, e := range enc {
		if err := s.putBytes(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// Range returns the entries with keys from from to to, both inclusive, in key order.
// It is empty when from sorts after to.
func (s *KeyValueStore[K, V]) Range(from, to K) (KeyValueIterator[K, V], error) {
	return s.rangeOf(from, to, false)
}

// ReverseRange is Range in reverse key order.
func (s *KeyValueStore[K, V]) ReverseRange(from, to K) (KeyValueIterator[K, V], error) {
	return s.rangeOf(from, to, true)
}

func (s *KeyValueStore[K, V]) rangeOf(from, to K, reverse bool) (KeyValueIterator[K, V], error) {
	lo, err := s.encodeKey(from)
	if err != nil {
		return nil, err
	}
	hi, err := s.encodeKey(to)
	if err != nil {
		return nil, err
	}
	if bytes.Compare(lo, hi) > 0 {
		return s.iterator(emptyIterator{}), nil
	}
	// The smallest key after hi is hi with a zero byte appended.
	return s.iterate(lo, append(hi, 0), reverse)
}

// PrefixScan returns the entries whose encoded key starts with the encoded prefix, in
// key order. With serde.String, PrefixScan("ab") finds "ab", "ab\x00" and "abc" but
// not "b"; with a serde that frames its bytes (JSON quotes strings) the encoded prefix
// is a whole value, and finds little else.
func (s *KeyValueStore[K, V]) PrefixScan(prefix K) (KeyValueIterator[K, V], error) {
	p, err := s.encodeKey(prefix)
	if err != nil {
		return nil, err
	}
	return s.iterate(p, prefixEnd(p), false)
}

// prefixEnd returns the smallest bytes above every key starting with prefix, or nil
// (the end of the store) when there are none: a prefix of only 0xFF bytes.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// All returns every entry in key order.
func (s *KeyValueStore[K, V]) All() (KeyValueIterator[K, V], error) {
	return s.iterate(nil, nil, false)
}

// ApproximateNumEntries estimates the number of entries; writes still in the cache are
// not counted.
func (s *KeyValueStore[K, V]) ApproximateNumEntries() int64 { return s.top.ApproximateCount() }

// SetFlushListener sets the callback of the records the cache passes down and reports
// whether the store has a cache; without one, callers forward their updates themselves,
// as Kafka Streams' processors do.
func (s *KeyValueStore[K, V]) SetFlushListener(f FlushListener[K, V]) bool {
	return setFlushListener(&s.layers, f, s.decodeKey, s.values)
}

func (s *KeyValueStore[K, V]) iterate(from, to []byte, reverse bool) (KeyValueIterator[K, V], error) {
	raw, err := s.top.Iterate(from, to, reverse)
	if err != nil {
		return nil, s.errorf(err)
	}
	return s.iterator(raw), nil
}

func (s *KeyValueStore[K, V]) iterator(raw Iterator) KeyValueIterator[K, V] {
	return newTypedIterator(raw, func(kb, vb []byte) (k K, v V, keep bool, err error) {
		if k, err = s.decodeKey(kb); err != nil {
			return k, v, false, err
		}
		v, err = s.decodeValue(kb, vb)
		return k, v, err == nil, err
	})
}
