package dsl

import (
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// Table is a changelog: per key, the latest value, each update replacing the one
// before and a delete removing it. Kafka Streams' KTable. Table nodes forward each
// update with the value it replaces, which is what keeps aggregates with subtractors
// and joins right. A Table is a small value; copy it freely.
type Table[K, V any] struct {
	b      *Builder
	node   string
	keys   serde.Serde[K]
	values serde.Serde[V]
	get    getter[K, V]
	store  string
}

// StoreName returns the name of the store holding the table, which interactive queries
// and the test driver read, or "" for a table computed on the fly from its inputs (a
// filter or a mapping of another table, or a join without Materialized).
func (t Table[K, V]) StoreName() string { return t.store }

// Table reads topic as a table: each record is the key's new value, and a record with
// a null value (nil bytes) deletes the key. The table is kept in a store named by
// Materialized or else "<topic>-STATE-STORE-0000000000".
func (b *Builder) Table[K, V any](topic string, c Consumed[K, V], opts ...Materialized[K, V]) Table[K, V] {
	m := option(b, "Table", opts)
	source := b.processorName(c.Name, "KSTREAM-SOURCE")
	name := b.processorName("", "KTABLE-SOURCE")
	store := b.storeName(m.Name, topic)
	addSource(b, source, topic, c, serde.Nullable(c.Values))
	addProcessor(b, name, storeSupplier(store, func(w *tableWriter[K, V], r runtime.Record[K, *V]) error {
		old, _, err := w.get(r.Key)
		if err != nil {
			return err
		}
		if old == nil && r.Value == nil {
			return nil // deleting what is not there changes nothing
		}
		return w.write(runtime.WithValue(r, change[V]{old: old, new: r.Value}))
	}), source)
	keys, values := addTableStore(b, store, m, c.Keys, c.Values, name)
	return Table[K, V]{b: b, node: name, keys: keys, values: values, get: storeGetter[K, V](store), store: store}
}

// ToTable reads the stream as a table's changelog: each record is its key's new value.
// The table is kept in a store named by Materialized or else
// "KSTREAM-TOTABLE-STATE-STORE-0000000000". A stream whose keys changed is repartitioned
// first. Stream values are never null, so this table only grows or updates; for
// deletes, read the topic with Builder.Table.
func (s Stream[K, V]) ToTable(opts ...Materialized[K, V]) Table[K, V] {
	m := option(s.b, "ToTable", opts)
	name := s.b.processorName("", "KSTREAM-TOTABLE")
	store := s.b.storeName(m.Name, "KSTREAM-TOTABLE")
	s = grouped(s, Grouped[K, V]{Keys: m.Keys, Values: m.Values}, store)
	addProcessor(s.b, name, storeSupplier(store, func(w *tableWriter[K, V], r runtime.Record[K, V]) error {
		old, _, err := w.get(r.Key)
		if err != nil {
			return err
		}
		return w.write(runtime.WithValue(r, change[V]{old: old, new: &r.Value}))
	}), s.node)
	keys, values := addTableStore(s.b, store, m, s.keys, s.values, name)
	return Table[K, V]{b: s.b, node: name, keys: keys, values: values, get: storeGetter[K, V](store), store: store}
}

// Filter keeps the keys whose value satisfies pred: a key whose new value fails it is
// deleted from the result, so downstream sees the delete of a value that stops
// qualifying. pred must be a pure function of its arguments: it is applied again to
// old values and on lookups.
func (t Table[K, V]) Filter(pred func(K, V) bool, opts ...Named) Table[K, V] {
	return t.filter(pred, true, t.b.named("Filter", opts))
}

// FilterNot is Filter with pred negated.
func (t Table[K, V]) FilterNot(pred func(K, V) bool, opts ...Named) Table[K, V] {
	return t.filter(pred, false, t.b.named("FilterNot", opts))
}

func (t Table[K, V]) filter(pred func(K, V) bool, keep bool, explicit string) Table[K, V] {
	name := t.b.processorName(explicit, "KTABLE-FILTER")
	apply := func(k K, v *V) *V {
		if v != nil && pred(k, *v) == keep {
			return v
		}
		return nil
	}
	addProcessor(t.b, name, stateless(func(ctx runtime.ProcessorContext[K, change[V]], r runtime.Record[K, change[V]]) error {
		c := change[V]{old: apply(r.Key, r.Value.old), new: apply(r.Key, r.Value.new)}
		if c.old == nil && c.new == nil {
			return nil // not in the result before or after
		}
		return ctx.Forward(runtime.WithValue(r, c))
	}), t.node)
	parent := t.get
	return Table[K, V]{b: t.b, node: name, keys: t.keys, values: t.values, get: getter[K, V]{
		stores: parent.stores,
		open: func(ctx storeContext) (lookup[K, V], error) {
			get, err := parent.open(ctx)
			if err != nil {
				return nil, err
			}
			return func(k K) (*V, int64, error) {
				v, ts, err := get(k)
				return apply(k, v), ts, err
			}, nil
		},
	}}
}

// MapValues maps each value with f, keeping keys. f must be a pure function: it is
// applied again to old values and on lookups.
func (t Table[K, V]) MapValues[V2 any](f func(V) V2, opts ...Named) Table[K, V2] {
	name := t.b.processorName(t.b.named("MapValues", opts), "KTABLE-MAPVALUES")
	apply := func(v *V) *V2 {
		if v == nil {
			return nil
		}
		v2 := f(*v)
		return &v2
	}
	addProcessor(t.b, name, stateless(func(ctx runtime.ProcessorContext[K, change[V2]], r runtime.Record[K, change[V]]) error {
		return ctx.Forward(runtime.WithValue(r, change[V2]{old: apply(r.Value.old), new: apply(r.Value.new)}))
	}), t.node)
	parent := t.get
	return Table[K, V2]{b: t.b, node: name, keys: t.keys, values: carry[V2](t.values), get: getter[K, V2]{
		stores: parent.stores,
		open: func(ctx storeContext) (lookup[K, V2], error) {
			get, err := parent.open(ctx)
			if err != nil {
				return nil, err
			}
			return func(k K) (*V2, int64, error) {
				v, ts, err := get(k)
				return apply(v), ts, err
			}, nil
		},
	}}
}

// ToStream returns the table's updates as a stream of its new values. A delete is a
// record with a nil value, which is why the stream's values are pointers: write it to
// a topic with serde.Nullable(values) (the default when the table's value serde is
// known) and the delete becomes a tombstone.
//
// P is always *V and is inferred: t.ToStream() is a Stream[K, *V]. It is a type
// parameter only because a method of Table[K, V] returning Stream[K, *V] outright would
// make Go instantiate Table[K, *V], Stream[K, **V] and so on without end.
func (t Table[K, V]) ToStream[P interface{ *V }](opts ...Named) Stream[K, P] {
	name := t.b.processorName(t.b.named("ToStream", opts), "KTABLE-TOSTREAM")
	addProcessor(t.b, name, stateless(func(ctx runtime.ProcessorContext[K, P], r runtime.Record[K, change[V]]) error {
		return ctx.Forward(runtime.WithValue(r, P(r.Value.new)))
	}), t.node)
	out := Stream[K, P]{b: t.b, node: name, keys: t.keys}
	if t.values != nil {
		out.values = nullableOf[P](t.values)
	}
	return out
}

// nullableOf is serde.Nullable(values) as a Serde[P]; P is *V, so the assertion holds.
func nullableOf[P interface{ *V }, V any](values serde.Serde[V]) serde.Serde[P] {
	return any(serde.Nullable(values)).(serde.Serde[P])
}
