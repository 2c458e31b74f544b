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
// filter or a mapping of another table, or a join, without Materialized).
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
// "KSTREAM-TOTABLE-STATE-STORE-0000000000". Stream values are never null, so this table
// only grows or updates; for deletes, read the topic with Builder.Table.
//
// Options are a Named and a Materialized[K, V] (see [TableOption]). A stream whose keys
// changed is repartitioned first, as in Kafka Streams through a topic named after the
// Named when given; without one, after the store (where Kafka Streams uses the
// generated processor name).
func (s Stream[K, V]) ToTable(opts ...TableOption) Table[K, V] {
	o := tableOpts[K, V](s.b, "ToTable", opts)
	m := o.m
	name := s.b.processorName(o.named, "KSTREAM-TOTABLE")
	store := s.b.storeName(m.Name, "KSTREAM-TOTABLE")
	base := store
	if o.named != "" {
		base = o.named
	}
	s = grouped(s, Grouped[K, V]{Keys: m.Keys, Values: m.Values}, base)
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
//
// Options are a Named and a Materialized[K, V] (see [TableOption]). Without a
// Materialized the result is a view, computed from t on lookups and with no store of
// its own; with one it is kept in its own store (queryable, cached and logged as the
// Materialized says), named by it or else "KTABLE-FILTER-STATE-STORE-<n>".
func (t Table[K, V]) Filter(pred func(K, V) bool, opts ...TableOption) Table[K, V] {
	return t.filter(pred, true, "Filter", opts)
}

// FilterNot is Filter with pred negated.
func (t Table[K, V]) FilterNot(pred func(K, V) bool, opts ...TableOption) Table[K, V] {
	return t.filter(pred, false, "FilterNot", opts)
}

func (t Table[K, V]) filter(pred func(K, V) bool, keep bool, op string, opts []TableOption) Table[K, V] {
	return derive(t, "KTABLE-FILTER", tableOpts[K, V](t.b, op, opts), t.values, func(k K, v *V) *V {
		if v != nil && pred(k, *v) == keep {
			return v
		}
		return nil
	})
}

// MapValues maps each value with f, keeping keys. f must be a pure function: it is
// applied again to old values and on lookups.
//
// Options are a Named and a Materialized[K, V2] (see [TableOption]). Without a
// Materialized the result is a view, computed from t on lookups; with one it is kept
// in its own store, named by it or else "KTABLE-MAPVALUES-STATE-STORE-<n>", whose value
// serde Materialized.Values gives unless V2 is V's type.
func (t Table[K, V]) MapValues[V2 any](f func(V) V2, opts ...TableOption) Table[K, V2] {
	return derive(t, "KTABLE-MAPVALUES", tableOpts[K, V2](t.b, "MapValues", opts), carry[V2](t.values), func(_ K, v *V) *V2 {
		if v == nil {
			return nil
		}
		v2 := f(*v)
		return &v2
	})
}

// derive adds the node of a table whose rows are apply of t's rows, nil for a row
// that is not in the result: Kafka Streams' KTableFilter and KTableMapValues. Each
// update of t becomes the update of the result, unless the key is in the result
// neither before nor after. Given a Materialized, the node keeps the result in a store
// that later lookups read; else lookups apply apply to t's.
func derive[K, V, V2 any](t Table[K, V], kind string, o tableOptions[K, V2], values serde.Serde[V2], apply func(K, *V) *V2) Table[K, V2] {
	b := t.b
	name := b.processorName(o.named, kind)
	changeOf := func(r runtime.Record[K, change[V]]) (runtime.Record[K, change[V2]], bool) {
		c := change[V2]{old: apply(r.Key, r.Value.old), new: apply(r.Key, r.Value.new)}
		return runtime.WithValue(r, c), c.old != nil || c.new != nil
	}
	out := Table[K, V2]{b: b, node: name, keys: t.keys, values: values}
	if o.materialized {
		out.store = b.storeName(o.m.Name, kind)
		addProcessor(b, name, storeSupplier(out.store, func(w *tableWriter[K, V2], r runtime.Record[K, change[V]]) error {
			if c, ok := changeOf(r); ok {
				return w.write(c)
			}
			return nil
		}), t.node)
		out.keys, out.values = addTableStore(b, out.store, o.m, out.keys, out.values, name)
		out.get = storeGetter[K, V2](out.store)
		return out
	}
	addProcessor(b, name, stateless(func(ctx runtime.ProcessorContext[K, change[V2]], r runtime.Record[K, change[V]]) error {
		if c, ok := changeOf(r); ok {
			return ctx.Forward(c)
		}
		return nil
	}), t.node)
	parent := t.get
	out.get = getter[K, V2]{
		stores: parent.stores,
		open: func(ctx storeContext) (lookup[K, V2], error) {
			get, err := parent.open(ctx)
			if err != nil {
				return nil, err
			}
			return func(k K) (*V2, int64, error) {
				v, ts, err := get(k)
				return apply(k, v), ts, err
			}, nil
		},
	}
	return out
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
