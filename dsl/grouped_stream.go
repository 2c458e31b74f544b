package dsl

import (
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// GroupedStream is a stream grouped by key for an aggregation: Kafka Streams'
// KGroupedStream. Its aggregations return tables whose values are the running
// aggregate of each key.
type GroupedStream[K, V any] struct {
	s Stream[K, V]
	g Grouped[K, V]
}

// GroupByKey groups the stream by its current key. When a key-changing operator ran
// upstream, the aggregation first repartitions through "<app-id>-<name>-repartition",
// named by Grouped or after the aggregate's store.
func (s Stream[K, V]) GroupByKey(opts ...Grouped[K, V]) GroupedStream[K, V] {
	return GroupedStream[K, V]{s: s, g: option(s.b, "GroupByKey", opts)}
}

// GroupBy groups the stream by the key f selects, which always repartitions (it is
// SelectKey followed by GroupByKey); Grouped.Keys is needed unless K2's serde is known.
func (s Stream[K, V]) GroupBy[K2 any](f func(K, V) K2, opts ...Grouped[K2, V]) GroupedStream[K2, V] {
	g := option(s.b, "GroupBy", opts)
	return GroupedStream[K2, V]{s: s.SelectKey(f), g: g}
}

// Count counts the records of each key. The count's serde defaults to serde.Int64.
// Options are a Named and a Materialized[K, int64] (see [TableOption]).
func (g GroupedStream[K, V]) Count(opts ...TableOption) Table[K, int64] {
	o := tableOpts[K, int64](g.s.b, "Count", opts)
	if o.m.Values == nil {
		o.m.Values = serde.Int64()
	}
	return aggregateStream(g, "KSTREAM-AGGREGATE", o,
		func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 })
}

// Reduce combines each key's records: the first value is the aggregate as is, and each
// later value v makes it f(aggregate, v). Options are a Named and a Materialized[K, V].
func (g GroupedStream[K, V]) Reduce(f func(agg, v V) V, opts ...TableOption) Table[K, V] {
	o := tableOpts[K, V](g.s.b, "Reduce", opts)
	return aggregateStreamFirst(g, "KSTREAM-REDUCE", o, func(_ K, v V) V { return v }, func(_ K, v, agg V) V { return f(agg, v) })
}

// Aggregate folds each key's records into an aggregate: init gives the aggregate of a
// key not seen yet and add folds one record into it. Materialized.Values (the
// aggregate's serde) is required unless VR is V's type, whose serde it then takes.
// Options are a Named and a Materialized[K, VR].
func (g GroupedStream[K, V]) Aggregate[VR any](init func() VR, add func(K, V, VR) VR, opts ...TableOption) Table[K, VR] {
	return aggregateStream(g, "KSTREAM-AGGREGATE", tableOpts[K, VR](g.s.b, "Aggregate", opts), init, add)
}

// aggregateStream adds the aggregation of g: its store, the repartition it needs, and
// the processor folding records into the store.
func aggregateStream[K, V, VR any](g GroupedStream[K, V], kind string, o tableOptions[K, VR], init func() VR, add func(K, V, VR) VR) Table[K, VR] {
	return aggregateStreamFirst(g, kind, o, func(k K, v V) VR { return add(k, v, init()) }, add)
}

// aggregateStreamFirst is aggregateStream with the first record of a key folded by
// first instead of from an initial value, as Reduce needs. As in Kafka Streams'
// KGroupedStream, Named names the processor only: the store and the repartition topic
// are named by Materialized and Grouped, or generated.
func aggregateStreamFirst[K, V, VR any](g GroupedStream[K, V], kind string, o tableOptions[K, VR], first func(K, V) VR, add func(K, V, VR) VR) Table[K, VR] {
	b := g.s.b
	store := b.storeName(o.m.Name, kind)
	s := grouped(g.s, g.g, store)
	name := b.processorName(o.named, kind)
	addProcessor(b, name, storeSupplier(store, fold(first, add)), s.node)
	keys, values := addTableStore(b, store, o.m, s.keys, carry[VR](s.values), name)
	return Table[K, VR]{b: b, node: name, keys: keys, values: values, get: storeGetter[K, VR](store), store: store}
}

// fold returns the processing of a stream aggregation, as Kafka Streams'
// KStreamAggregate: the key's first record becomes first of it, each later one is
// added to the stored aggregate, and the result carries the larger of the record's and
// the aggregate's timestamps.
func fold[K, V, VR any](first func(K, V) VR, add func(K, V, VR) VR) func(w *tableWriter[K, VR], r runtime.Record[K, V]) error {
	return func(w *tableWriter[K, VR], r runtime.Record[K, V]) error {
		old, oldTS, err := w.get(r.Key)
		if err != nil {
			return err
		}
		var agg VR
		ts := r.Timestamp
		if old == nil {
			agg = first(r.Key, r.Value)
		} else {
			agg = add(r.Key, r.Value, *old)
			ts = max(ts, oldTS)
		}
		return w.write(runtime.Record[K, change[VR]]{Key: r.Key, Value: change[VR]{old: old, new: &agg}, Timestamp: ts, Headers: r.Headers})
	}
}
