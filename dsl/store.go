package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// storeContext is the part of a processor context that reaches stores.
type storeContext interface {
	Store(name string) (any, error)
}

// lookup returns a table's current value of a key, nil when it has none, with the
// timestamp of the update that set it.
type lookup[K, V any] func(key K) (value *V, ts int64, err error)

// getter is how a node reads another table's current values (Kafka Streams'
// KTableValueGetter): from a store when the table is materialized, else by applying
// the table's filters, mappers and joiners to the stores it derives from.
type getter[K, V any] struct {
	// stores are the stores the lookup reads; the reading processor connects to them.
	stores []string
	open   func(ctx storeContext) (lookup[K, V], error)
}

// storeGetter reads the timestamped store name.
func storeGetter[K, V any](name string) getter[K, V] {
	return getter[K, V]{stores: []string{name}, open: func(ctx storeContext) (lookup[K, V], error) {
		st, err := runtime.GetStore[*state.TimestampedKeyValueStore[K, V]](ctx, name)
		if err != nil {
			return nil, err
		}
		return func(k K) (*V, int64, error) {
			vt, found, err := st.Get(k)
			if err != nil || !found {
				return nil, 0, err
			}
			return &vt.Value, vt.Timestamp, nil
		}, nil
	}}
}

// addTableStore adds the timestamped key-value store that materializes a table,
// connected to processors, with keys and values from m or else the given defaults.
func addTableStore[K, V any](b *Builder, name string, m Materialized[K, V], keys serde.Serde[K], values serde.Serde[V], processors ...string) (serde.Serde[K], serde.Serde[V]) {
	if m.Keys != nil {
		keys = m.Keys
	}
	if m.Values != nil {
		values = m.Values
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("%w: store %s: set Materialized.Keys and Materialized.Values", ErrSerdeRequired, name))
		return keys, values
	}
	sb := runtime.TimestampedKeyValueStoreBuilder(name, keys, values, runtime.StoreOptions{
		Persistent: !m.InMemory,
		Logging:    !m.LoggingDisabled,
		Caching:    m.Caching,
		CacheBytes: m.CacheBytes,
	})
	b.do(func() error { return b.top.AddStateStore(sb, processors...) })
	return keys, values
}

// tableWriter is the store of a node that materializes a table, and how the node
// forwards its updates: at once, or, when the store caches, as the cache flushes, one
// update per key with the value before the flush as the old value.
type tableWriter[K, V any] struct {
	st     *state.TimestampedKeyValueStore[K, V]
	ctx    runtime.ProcessorContext[K, change[V]]
	cached bool
}

func openTableWriter[K, V any](ctx runtime.ProcessorContext[K, change[V]], name string) (*tableWriter[K, V], error) {
	st, err := runtime.GetStore[*state.TimestampedKeyValueStore[K, V]](ctx, name)
	if err != nil {
		return nil, err
	}
	w := &tableWriter[K, V]{st: st, ctx: ctx}
	w.cached = st.SetFlushListener(func(k K, nv, ov *serde.ValueAndTimestamp[V]) error {
		var c change[V]
		// A delete's own timestamp is not kept by the cache; stream time is the
		// closest bound on it.
		ts := ctx.StreamTime()
		if ov != nil {
			c.old = &ov.Value
		}
		if nv != nil {
			c.new, ts = &nv.Value, nv.Timestamp
		}
		return ctx.Forward(runtime.Record[K, change[V]]{Key: k, Value: c, Timestamp: ts})
	})
	return w, nil
}

// get returns the stored value of k, nil when there is none, and its timestamp.
func (w *tableWriter[K, V]) get(k K) (*V, int64, error) {
	vt, found, err := w.st.Get(k)
	if err != nil || !found {
		return nil, 0, err
	}
	return &vt.Value, vt.Timestamp, nil
}

// write stores r's new value (a nil one deletes) and forwards r unless the cache
// will.
func (w *tableWriter[K, V]) write(r runtime.Record[K, change[V]]) error {
	var err error
	if r.Value.new == nil {
		err = w.st.Delete(r.Key)
	} else {
		err = w.st.Put(r.Key, serde.ValueAndTimestamp[V]{Value: *r.Value.new, Timestamp: r.Timestamp})
	}
	if err != nil || w.cached {
		return err
	}
	return w.ctx.Forward(r)
}

// storeProcessor is a node whose processing reads and writes one table store.
type storeProcessor[KIn, VIn, K, V any] struct {
	store   string
	w       *tableWriter[K, V]
	process func(w *tableWriter[K, V], r runtime.Record[KIn, VIn]) error
}

func (p *storeProcessor[KIn, VIn, K, V]) Init(ctx runtime.ProcessorContext[K, change[V]]) error {
	w, err := openTableWriter(ctx, p.store)
	p.w = w
	return err
}

func (p *storeProcessor[KIn, VIn, K, V]) Process(r runtime.Record[KIn, VIn]) error {
	return p.process(p.w, r)
}

func (p *storeProcessor[KIn, VIn, K, V]) Close() error { return nil }

// storeSupplier returns the supplier of storeProcessors over store running process.
func storeSupplier[KIn, VIn, K, V any](store string, process func(w *tableWriter[K, V], r runtime.Record[KIn, VIn]) error) func() runtime.Processor[KIn, VIn, K, change[V]] {
	return func() runtime.Processor[KIn, VIn, K, change[V]] {
		return &storeProcessor[KIn, VIn, K, V]{store: store, process: process}
	}
}
