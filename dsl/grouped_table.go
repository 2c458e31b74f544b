package dsl

import (
	"bytes"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// GroupedTable is a table regrouped by a new key for an aggregation: Kafka Streams'
// KGroupedTable. Each update of the source table reaches the aggregation as a
// subtraction of the old value from the old group and an addition of the new value to
// the new group, so aggregates stay right when a row changes or moves between groups.
type GroupedTable[K, V any] struct {
	// s carries the regrouped updates, repartitioned by the aggregation.
	s      Stream[K, change[V]]
	g      Grouped[K, V]
	values serde.Serde[V]
}

// GroupBy regroups the table by the key and value f selects from each row. The result
// always goes through a repartition topic, "<app-id>-<name>-repartition", named by
// Grouped or after the aggregate's store; Grouped.Keys and Grouped.Values encode it and
// are needed unless known from upstream. f must be a pure function: it is applied again
// to a row's old value to take that out of its old group.
//
// As Kafka Streams since KIP-904, an update whose old and new rows land in the same
// group (same key bytes) travels as one record, so the group never shows the
// subtraction alone.
func (t Table[K, V]) GroupBy[K2, V2 any](f func(K, V) (K2, V2), opts ...Grouped[K2, V2]) GroupedTable[K2, V2] {
	g := option(t.b, "GroupBy", opts)
	if g.Keys == nil {
		g.Keys = carry[K2](t.keys)
	}
	if g.Values == nil {
		g.Values = carry[V2](t.values)
	}
	name := t.b.processorName("", "KTABLE-SELECT")
	sameKey := func(K2, K2) bool { return false }
	if keys := g.Keys; keys != nil {
		sameKey = func(a, b K2) bool {
			ab, errA := keys.Encode(a)
			bb, errB := keys.Encode(b)
			return errA == nil && errB == nil && bytes.Equal(ab, bb)
		}
	}
	addProcessor(t.b, name, stateless(func(ctx runtime.ProcessorContext[K2, change[V2]], r runtime.Record[K, change[V]]) error {
		var oldK, newK K2
		var oldV, newV *V2
		if r.Value.old != nil {
			k, v := f(r.Key, *r.Value.old)
			oldK, oldV = k, &v
		}
		if r.Value.new != nil {
			k, v := f(r.Key, *r.Value.new)
			newK, newV = k, &v
		}
		out := runtime.Record[K2, change[V2]]{Timestamp: r.Timestamp, Headers: r.Headers}
		if oldV != nil && newV != nil && sameKey(oldK, newK) {
			out.Key, out.Value = newK, change[V2]{old: oldV, new: newV}
			return ctx.Forward(out)
		}
		if oldV != nil {
			out.Key, out.Value = oldK, change[V2]{old: oldV}
			if err := ctx.Forward(out); err != nil {
				return err
			}
		}
		if newV != nil {
			out.Key, out.Value = newK, change[V2]{new: newV}
			return ctx.Forward(out)
		}
		return nil
	}), t.node)
	s := Stream[K2, change[V2]]{b: t.b, node: name, keys: g.Keys, rekeyed: true}
	if g.Values != nil {
		s.values = changeSerde[V2]{g.Values}
	}
	return GroupedTable[K2, V2]{s: s, g: g, values: g.Values}
}

// Count counts the rows of each group. The count's serde defaults to serde.Int64.
// Options are a Named and a Materialized[K, int64] (see [TableOption]).
func (g GroupedTable[K, V]) Count(opts ...TableOption) Table[K, int64] {
	o := tableOpts[K, int64](g.s.b, "Count", opts)
	if o.m.Values == nil {
		o.m.Values = serde.Int64()
	}
	return aggregateTable(g, "KTABLE-AGGREGATE", o,
		func(_ K, _ V, agg *int64) int64 {
			if agg == nil {
				return 1
			}
			return *agg + 1
		},
		func(_ K, _ V, agg int64) int64 { return agg - 1 })
}

// Reduce combines the rows of each group: a group's first row is its aggregate as is,
// adder folds in each row added to the group and subtractor takes out each row that
// leaves it or is replaced. Options are a Named and a Materialized[K, V].
func (g GroupedTable[K, V]) Reduce(adder, subtractor func(agg, v V) V, opts ...TableOption) Table[K, V] {
	return aggregateTable(g, "KTABLE-REDUCE", tableOpts[K, V](g.s.b, "Reduce", opts),
		func(_ K, v V, agg *V) V {
			if agg == nil {
				return v
			}
			return adder(*agg, v)
		},
		func(_ K, v V, agg V) V { return subtractor(agg, v) })
}

// Aggregate folds the rows of each group into an aggregate: init gives the aggregate of
// a new group, adder folds in each row added to the group and subtractor takes out each
// row that leaves it or is replaced. Materialized.Values (the aggregate's serde) is
// required unless VR is V's type, whose serde it then takes. Options are a Named and a
// Materialized[K, VR].
func (g GroupedTable[K, V]) Aggregate[VR any](init func() VR, adder, subtractor func(K, V, VR) VR, opts ...TableOption) Table[K, VR] {
	return aggregateTable(g, "KTABLE-AGGREGATE", tableOpts[K, VR](g.s.b, "Aggregate", opts),
		func(k K, v V, agg *VR) VR {
			if agg == nil {
				return adder(k, v, init())
			}
			return adder(k, v, *agg)
		},
		subtractor)
}

// aggregateTable adds the aggregation of g: the repartition, its store and the
// processor that subtracts each update's old value and adds its new one, as Kafka
// Streams' KTableAggregate. A group's aggregate, once created, stays (at zero, for a
// count) when its last row leaves. Named names the processor only, as in Kafka
// Streams' KGroupedTable.
func aggregateTable[K, V, VR any](g GroupedTable[K, V], kind string, o tableOptions[K, VR], add func(K, V, *VR) VR, sub func(K, V, VR) VR) Table[K, VR] {
	b := g.s.b
	m := o.m
	store := b.storeName(m.Name, kind)
	s := grouped(g.s, Grouped[K, change[V]]{Name: g.g.Name}, store)
	name := b.processorName(o.named, kind)
	addProcessor(b, name, storeSupplier(store, func(w *tableWriter[K, VR], r runtime.Record[K, change[V]]) error {
		old, oldTS, err := w.get(r.Key)
		if err != nil {
			return err
		}
		agg := old
		if r.Value.old != nil && agg != nil {
			next := sub(r.Key, *r.Value.old, *agg)
			agg = &next
		}
		if r.Value.new != nil {
			next := add(r.Key, *r.Value.new, agg)
			agg = &next
		}
		if agg == nil {
			return nil // a subtraction from a group never seen: nothing to take out of
		}
		ts := r.Timestamp
		if old != nil {
			ts = max(ts, oldTS)
		}
		return w.write(runtime.Record[K, change[VR]]{Key: r.Key, Value: change[VR]{old: old, new: agg}, Timestamp: ts, Headers: r.Headers})
	}), s.node)
	keys, values := addTableStore(b, store, m, s.keys, carry[VR](g.values), name)
	return Table[K, VR]{b: b, node: name, keys: keys, values: values, get: storeGetter[K, VR](store), store: store}
}
