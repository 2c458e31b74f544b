package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// Stream is an unbounded sequence of records, each an independent fact: Kafka Streams'
// KStream. Operators return new Streams and never change the one they are called on,
// so a Stream may feed several operators. A Stream is a small value; copy it freely.
type Stream[K, V any] struct {
	b    *Builder
	node string
	// keys and values are the serdes known from upstream, nil when an operator changed
	// the type since.
	keys   serde.Serde[K]
	values serde.Serde[V]
	// rekeyed is set by a key-changing operator: records may sit in a partition their
	// new key does not hash to, so grouping or joining first goes through a
	// repartition topic.
	rekeyed bool
}

// KeyValue is one record's key and value, what FlatMap returns a list of.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// KV returns the KeyValue of k and v.
func KV[K, V any](k K, v V) KeyValue[K, V] { return KeyValue[K, V]{Key: k, Value: v} }

// Stream reads topic as a stream, decoding with c's serdes.
func (b *Builder) Stream[K, V any](topic string, c Consumed[K, V]) Stream[K, V] {
	name := b.processorName(c.Name, "KSTREAM-SOURCE")
	addSource(b, name, topic, c, c.Values)
	return Stream[K, V]{b: b, node: name, keys: c.Keys, values: c.Values}
}

// addSource adds a source node reading topic with c's settings and the given value
// serde (c.Values, or its Nullable wrapping for tables).
func addSource[K, V, VS any](b *Builder, name, topic string, c Consumed[K, V], values serde.Serde[VS]) {
	if c.Keys == nil || c.Values == nil {
		b.fail(fmt.Errorf("%w: source %s of topic %q: Consumed.Keys and Consumed.Values", ErrSerdeRequired, name, topic))
		return
	}
	b.do(func() error {
		return b.top.AddSource(name, runtime.SourceConfig[K, VS]{
			Topics:      []string{topic},
			Keys:        c.Keys,
			Values:      values,
			Timestamps:  c.Timestamps,
			OffsetReset: c.OffsetReset,
		})
	})
}

// next returns the stream of the node name with s's serdes and partitioning.
func (s Stream[K, V]) next(name string) Stream[K, V] {
	s.node = name
	return s
}

// Filter keeps the records for which pred is true.
func (s Stream[K, V]) Filter(pred func(K, V) bool, opts ...Named) Stream[K, V] {
	return s.filter(pred, true, "KSTREAM-FILTER", opts)
}

// FilterNot drops the records for which pred is true.
func (s Stream[K, V]) FilterNot(pred func(K, V) bool, opts ...Named) Stream[K, V] {
	return s.filter(pred, false, "KSTREAM-FILTER", opts)
}

func (s Stream[K, V]) filter(pred func(K, V) bool, keep bool, kind string, opts []Named) Stream[K, V] {
	name := s.b.processorName(s.b.named("Filter", opts), kind)
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K, V], r runtime.Record[K, V]) error {
		if pred(r.Key, r.Value) == keep {
			return ctx.Forward(r)
		}
		return nil
	}), s.node)
	return s.next(name)
}

// Map replaces each record's key and value. The key changes, so a later grouping or
// join repartitions; use MapValues when only the value does.
func (s Stream[K, V]) Map[K2, V2 any](f func(K, V) (K2, V2), opts ...Named) Stream[K2, V2] {
	name := s.b.processorName(s.b.named("Map", opts), "KSTREAM-MAP")
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K2, V2], r runtime.Record[K, V]) error {
		k, v := f(r.Key, r.Value)
		return ctx.Forward(runtime.Record[K2, V2]{Key: k, Value: v, Timestamp: r.Timestamp, Headers: r.Headers})
	}), s.node)
	return Stream[K2, V2]{b: s.b, node: name, keys: carry[K2](s.keys), values: carry[V2](s.values), rekeyed: true}
}

// MapValues replaces each record's value, keeping its key and so its partitioning.
func (s Stream[K, V]) MapValues[V2 any](f func(V) V2, opts ...Named) Stream[K, V2] {
	name := s.b.processorName(s.b.named("MapValues", opts), "KSTREAM-MAPVALUES")
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K, V2], r runtime.Record[K, V]) error {
		return ctx.Forward(runtime.WithValue(r, f(r.Value)))
	}), s.node)
	return Stream[K, V2]{b: s.b, node: name, keys: s.keys, values: carry[V2](s.values), rekeyed: s.rekeyed}
}

// FlatMap replaces each record by zero or more records, each with the input's
// timestamp and headers. The key changes, so a later grouping or join repartitions.
func (s Stream[K, V]) FlatMap[K2, V2 any](f func(K, V) []KeyValue[K2, V2], opts ...Named) Stream[K2, V2] {
	name := s.b.processorName(s.b.named("FlatMap", opts), "KSTREAM-FLATMAP")
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K2, V2], r runtime.Record[K, V]) error {
		for _, kv := range f(r.Key, r.Value) {
			if err := ctx.Forward(runtime.Record[K2, V2]{Key: kv.Key, Value: kv.Value, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
				return err
			}
		}
		return nil
	}), s.node)
	return Stream[K2, V2]{b: s.b, node: name, keys: carry[K2](s.keys), values: carry[V2](s.values), rekeyed: true}
}

// FlatMapValues replaces each record by one record per value f returns, each with the
// input's key, timestamp and headers.
func (s Stream[K, V]) FlatMapValues[V2 any](f func(V) []V2, opts ...Named) Stream[K, V2] {
	name := s.b.processorName(s.b.named("FlatMapValues", opts), "KSTREAM-FLATMAPVALUES")
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K, V2], r runtime.Record[K, V]) error {
		for _, v := range f(r.Value) {
			if err := ctx.Forward(runtime.WithValue(r, v)); err != nil {
				return err
			}
		}
		return nil
	}), s.node)
	return Stream[K, V2]{b: s.b, node: name, keys: s.keys, values: carry[V2](s.values), rekeyed: s.rekeyed}
}

// SelectKey sets each record's key to f of it, keeping the value. The key changes, so a
// later grouping or join repartitions.
func (s Stream[K, V]) SelectKey[K2 any](f func(K, V) K2, opts ...Named) Stream[K2, V] {
	name := s.b.processorName(s.b.named("SelectKey", opts), "KSTREAM-KEY-SELECT")
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K2, V], r runtime.Record[K, V]) error {
		return ctx.Forward(withKey(r, f(r.Key, r.Value)))
	}), s.node)
	return Stream[K2, V]{b: s.b, node: name, keys: carry[K2](s.keys), values: s.values, rekeyed: true}
}

// Peek calls f for each record and passes the record on unchanged; f is for side
// effects such as logging or metrics.
func (s Stream[K, V]) Peek(f func(K, V), opts ...Named) Stream[K, V] {
	name := s.b.processorName(s.b.named("Peek", opts), "KSTREAM-PEEK")
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K, V], r runtime.Record[K, V]) error {
		f(r.Key, r.Value)
		return ctx.Forward(r)
	}), s.node)
	return s.next(name)
}

// Foreach calls f for each record and ends the stream.
func (s Stream[K, V]) Foreach(f func(K, V), opts ...Named) {
	name := s.b.processorName(s.b.named("Foreach", opts), "KSTREAM-FOREACH")
	addProcessor(s.b, name, stateless(func(_ runtime.ProcessorContext[struct{}, struct{}], r runtime.Record[K, V]) error {
		f(r.Key, r.Value)
		return nil
	}), s.node)
}

// Merge returns the records of s and other interleaved as they are processed. The
// result needs repartitioning before a grouping if either input did.
func (s Stream[K, V]) Merge(other Stream[K, V], opts ...Named) Stream[K, V] {
	if !s.b.sameBuilder("Merge", other.b) {
		return s
	}
	name := s.b.processorName(s.b.named("Merge", opts), "KSTREAM-MERGE")
	addProcessor(s.b, name, passThrough[K, V](), s.node, other.node)
	out := s.next(name)
	out.rekeyed = s.rekeyed || other.rekeyed
	if out.keys == nil {
		out.keys = other.keys
	}
	if out.values == nil {
		out.values = other.values
	}
	return out
}

// carry returns known as the serde of T when T is the type it encodes, so a serde
// survives operators that keep the type (a string mapped to a string), and nil when
// the type changed.
func carry[T, U any](known serde.Serde[U]) serde.Serde[T] {
	st, _ := any(known).(serde.Serde[T])
	return st
}
