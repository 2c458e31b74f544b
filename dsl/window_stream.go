package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// TimeWindowedStream is a grouped stream windowed by TimeWindows or SlidingWindows, for
// windowed aggregations: Kafka Streams' TimeWindowedKStream. Its aggregations return a
// table keyed by serde.Windowed[K], one row per key and window, kept in a window store.
type TimeWindowedStream[K, V any] struct {
	g    GroupedStream[K, V]
	w    windowSpec
	late *Stream[K, V]
}

// WindowedBy windows the grouped stream by w, TimeWindows or SlidingWindows. Invalid
// windows are a Build error wrapping ErrInvalidWindows.
func (g GroupedStream[K, V]) WindowedBy(w Windows) TimeWindowedStream[K, V] {
	spec, err := w.spec()
	if err != nil {
		g.s.b.fail(err)
	}
	return TimeWindowedStream[K, V]{g: g, w: spec}
}

// WithLateRecords makes the next aggregation of the windowed stream set *dst to the
// stream of the records it drops as late, something Kafka Streams cannot do: there a
// late record is only logged and counted. A record is late when a window it belongs
// to has closed (its end + grace is at or before the stream time the aggregation has
// observed); it is sent once, even when several hopping windows drop it, and still
// counts in the windows that are open. Each aggregation of the returned stream sets
// *dst anew, to its own late records.
//
// The observed stream time restarts with a task. A record for a window that closed
// before the restart and has since left the store is then dropped by the aggregation
// and counted, but not sent to the late stream, which judges by time alone.
//
// The late stream's processor is named "<Named>-late-records" when the aggregation is
// given a Named, else generated (KSTREAM-LATE-RECORDS-0000000007).
func (w TimeWindowedStream[K, V]) WithLateRecords(dst *Stream[K, V]) TimeWindowedStream[K, V] {
	w.late = dst
	return w
}

// Count counts the records of each key and window; the count's serde defaults to
// serde.Int64. Options are a Named, a Materialized[K, int64] (its Retention sets the
// window store's) and an EmitStrategy (see [TableOption]).
//
// WK is always serde.Windowed[K] and is inferred: w.Count() is a
// Table[serde.Windowed[K], int64]. It is a type parameter, here and on every windowed
// aggregation, only because a method of a stream of K returning a table of
// serde.Windowed[K] outright would make Go instantiate tables of
// serde.Windowed[serde.Windowed[K]] and so on without end (see Table.ToStream).
func (w TimeWindowedStream[K, V]) Count[WK interface{ serde.Windowed[K] }](opts ...TableOption) Table[WK, int64] {
	o := windowOpts[K, int64](w.g.s.b, "Count", opts)
	if o.m.Values == nil {
		o.m.Values = serde.Int64()
	}
	return windowAggregate[WK](w, "KSTREAM-AGGREGATE", o, nil, countFold[K, V])
}

// countFold counts a record into a window's count, nil for none yet.
func countFold[K, V any](_ K, _ V, n *int64) int64 {
	if n == nil {
		return 1
	}
	return *n + 1
}

// reduceFold returns the fold of a reduction by f: a window's first value is its
// aggregate as is.
func reduceFold[K, V any](f func(agg, v V) V) func(K, V, *V) V {
	return func(_ K, v V, agg *V) V {
		if agg == nil {
			return v
		}
		return f(*agg, v)
	}
}

// windowedTable returns the table of a windowed aggregation, keyed by WK, which is
// serde.Windowed[K]: the assertions hold. Naming Table[serde.Windowed[K], V] here
// instead would start the endless instantiation WK exists to avoid.
func windowedTable[WK, K, V any](b *Builder, node, store string, keys serde.Serde[serde.Windowed[K]], values serde.Serde[V], get getter[serde.Windowed[K], V]) Table[WK, V] {
	t := Table[WK, V]{b: b, node: node, values: values, get: any(get).(getter[WK, V]), store: store}
	if keys != nil {
		t.keys = any(keys).(serde.Serde[WK])
	}
	return t
}

// Reduce combines the records of each key and window: a window's first value is its
// aggregate as is, and each later value v makes it f(aggregate, v). Options are a
// Named, a Materialized[K, V] and an EmitStrategy.
func (w TimeWindowedStream[K, V]) Reduce[WK interface{ serde.Windowed[K] }](f func(agg, v V) V, opts ...TableOption) Table[WK, V] {
	return windowAggregate[WK](w, "KSTREAM-REDUCE", windowOpts[K, V](w.g.s.b, "Reduce", opts), w.g.s.values, reduceFold[K](f))
}

// Aggregate folds the records of each key and window into an aggregate: init gives a
// new window's aggregate and add folds one record into it. Materialized.Values (the
// aggregate's serde) is required unless VR is V's type. Options are a Named, a
// Materialized[K, VR] and an EmitStrategy.
func (w TimeWindowedStream[K, V]) Aggregate[VR any, WK interface{ serde.Windowed[K] }](init func() VR, add func(K, V, VR) VR, opts ...TableOption) Table[WK, VR] {
	return windowAggregate[WK](w, "KSTREAM-AGGREGATE", windowOpts[K, VR](w.g.s.b, "Aggregate", opts), carry[VR](w.g.s.values), freshOr(init, add))
}

// freshOr returns the fold of a window aggregation built from init and add: a nil
// aggregate is a window with none yet.
func freshOr[K, V, VR any](init func() VR, add func(K, V, VR) VR) func(K, V, *VR) VR {
	return func(k K, v V, agg *VR) VR {
		if agg == nil {
			return add(k, v, init())
		}
		return add(k, v, *agg)
	}
}

// windowAggregate adds a time or sliding window aggregation of w: its window store,
// the repartition it needs, the processor, and the late-records node if asked for.
// fold adds a record to a window's aggregate, nil for a window with none yet. Store
// and repartition topic are named as for GroupedStream aggregations.
func windowAggregate[WK, K, V, VR any](w TimeWindowedStream[K, V], kind string, o windowOptions[K, VR], values serde.Serde[VR], fold func(K, V, *VR) VR) Table[WK, VR] {
	b := w.g.s.b
	store := b.storeName(o.m.Name, kind)
	s := grouped(w.g.s, w.g.g, store)
	name := b.processorName(o.named, kind)
	closeAfter := w.w.grace
	if w.w.sliding {
		closeAfter++ // a sliding window's end is inclusive
	}
	node := windowedProcessor[K](b, name, closeAfter)
	spec, final := w.w, o.emitFinal
	addProcessor(b, name, func() runtime.Processor[K, V, serde.Windowed[K], change[VR]] {
		return &windowProcessor[K, V, VR]{store: store, spec: spec, final: final, fold: fold, dropped: &node.dropped, obs: newObserver()}
	}, s.node)
	keys, values := addWindowStore(b, store, o.m, s.keys, values, spec, name)
	if w.late != nil {
		lateName := b.processorName(suffixed(o.named, "-late-records"), "KSTREAM-LATE-RECORDS")
		*w.late = addLateStream(s, lateName, nil, func(storeContext) (func(runtime.Record[K, V], int64) (bool, error), error) {
			return func(r runtime.Record[K, V], observed int64) (bool, error) {
				return spec.late(r.Timestamp, observed), nil
			}, nil
		})
	}
	var wkeys serde.Serde[serde.Windowed[K]]
	if keys != nil {
		wkeys = serde.TimeWindowedKey(keys, spec.size)
	}
	return windowedTable[WK](b, name, store, wkeys, values, windowStoreGetter[K, VR](store))
}

// late reports whether a record at ts is too late for one of its windows once the
// observed stream time is observed.
func (s windowSpec) late(ts, observed int64) bool {
	closeTime := observed - s.grace
	if s.sliding {
		return ts < closeTime // its left window, [ts-size, ts], has closed
	}
	first := max(0, ts-s.size+s.advance) / s.advance * s.advance
	return first+s.size <= closeTime
}

// addWindowStore adds the timestamped window store of a windowed aggregation,
// connected to processors, and returns its serdes. Retention is Materialized's, at
// least window size + grace.
func addWindowStore[K, V any](b *Builder, name string, m Materialized[K, V], keys serde.Serde[K], values serde.Serde[V], spec windowSpec, processors ...string) (serde.Serde[K], serde.Serde[V]) {
	if m.Keys != nil {
		keys = m.Keys
	}
	if m.Values != nil {
		values = m.Values
	}
	if keys == nil || values == nil {
		b.fail(serdeRequired(name))
		return keys, values
	}
	least := spec.size + spec.grace
	if spec.sliding {
		// A new window's aggregate starts from the previous record's, up to two time
		// differences back, and a window is open while its inclusive end is not before
		// stream time - grace.
		least = 2*spec.size + spec.grace + 1
	}
	retention, err := retentionOf(m, least)
	if err != nil {
		b.fail(fmt.Errorf("store %s: %w", name, err))
	}
	sb := runtime.TimestampedWindowStoreBuilder(name, keys, values, state.WindowConfig{WindowSize: spec.size, Retention: retention}, storeOptions(m))
	b.do(func() error { return b.top.AddStateStore(sb, processors...) })
	return keys, values
}

// serdeRequired is the error of a windowed store whose serdes are not known.
func serdeRequired(store string) error {
	return fmt.Errorf("%w: store %s: set Materialized.Keys and Materialized.Values", ErrSerdeRequired, store)
}

// retentionOf returns m's retention in milliseconds, least when m sets none, and an
// error when m sets less.
func retentionOf[K, V any](m Materialized[K, V], least int64) (int64, error) {
	r := m.Retention.Milliseconds()
	switch {
	case m.Retention == 0:
		return least, nil
	case r < least:
		return least, fmt.Errorf("%w: retention %v shorter than the %dms the windows need", ErrInvalidWindows, m.Retention, least)
	}
	return r, nil
}

// storeOptions returns the store layers m asks for.
func storeOptions[K, V any](m Materialized[K, V]) runtime.StoreOptions {
	return runtime.StoreOptions{Persistent: !m.InMemory, Logging: !m.LoggingDisabled, Caching: m.Caching, CacheBytes: m.CacheBytes}
}

// windowStoreGetter reads a windowed table's rows from its timestamped window store.
func windowStoreGetter[K, V any](name string) getter[serde.Windowed[K], V] {
	return getter[serde.Windowed[K], V]{stores: []string{name}, open: func(ctx storeContext) (lookup[serde.Windowed[K], V], error) {
		st, err := runtime.GetStore[*state.TimestampedWindowStore[K, V]](ctx, name)
		if err != nil {
			return nil, err
		}
		return func(w serde.Windowed[K]) (*V, int64, error) {
			vt, found, err := st.Get(w.Key, w.Start)
			if err != nil || !found {
				return nil, 0, err
			}
			return &vt.Value, vt.Timestamp, nil
		}, nil
	}}
}
