package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// GlobalTable is a table that every instance of the application holds whole, fed from
// all partitions of its topic: Kafka Streams' GlobalKTable. Its store is readable from
// every processor of every task, so lookups into it need no co-partitioning.
type GlobalTable[K, V any] struct {
	store string
}

// StoreName returns the name of the global table's store, which processors read with
// runtime.GetStore[*state.TimestampedKeyValueStore[K, V]].
func (g GlobalTable[K, V]) StoreName() string { return g.store }

// GlobalTable reads topic as a global table: each record is its key's new value and a
// null value deletes the key. The store is named by Materialized or else
// "<topic>-STATE-STORE-0000000000". It has no changelog (the topic is one) and no
// cache, so of Materialized only Name, the serdes and InMemory apply.
func (b *Builder) GlobalTable[K, V any](topic string, c Consumed[K, V], opts ...Materialized[K, V]) GlobalTable[K, V] {
	m := option(b, "GlobalTable", opts)
	source := b.processorName(c.Name, "KSTREAM-SOURCE")
	name := b.processorName("", "KTABLE-SOURCE")
	store := b.storeName(m.Name, topic)
	keys, values := c.Keys, c.Values
	if m.Keys != nil {
		keys = m.Keys
	}
	if m.Values != nil {
		values = m.Values
	}
	if c.Keys == nil || c.Values == nil {
		b.fail(fmt.Errorf("%w: global table of topic %q: Consumed.Keys and Consumed.Values", ErrSerdeRequired, topic))
		return GlobalTable[K, V]{store: store}
	}
	sb := runtime.TimestampedKeyValueStoreBuilder(store, keys, values, runtime.StoreOptions{
		Persistent: !m.InMemory,
	})
	src := runtime.SourceConfig[K, *V]{
		Topics:      []string{topic},
		Keys:        c.Keys,
		Values:      serde.Nullable(c.Values),
		Timestamps:  c.Timestamps,
		OffsetReset: c.OffsetReset,
	}
	b.do(func() error {
		return b.top.AddGlobalStore(sb, source, src, name, func() runtime.Processor[K, *V, struct{}, struct{}] {
			return &globalUpdater[K, V]{store: store}
		})
	})
	return GlobalTable[K, V]{store: store}
}

// globalUpdater writes a global table's topic into its store.
type globalUpdater[K, V any] struct {
	store string
	st    *state.TimestampedKeyValueStore[K, V]
}

func (g *globalUpdater[K, V]) Init(ctx runtime.ProcessorContext[struct{}, struct{}]) error {
	st, err := runtime.GetStore[*state.TimestampedKeyValueStore[K, V]](ctx, g.store)
	g.st = st
	return err
}

func (g *globalUpdater[K, V]) Process(r runtime.Record[K, *V]) error {
	if r.Value == nil {
		return g.st.Delete(r.Key)
	}
	return g.st.Put(r.Key, serde.ValueAndTimestamp[V]{Value: *r.Value, Timestamp: r.Timestamp})
}

func (g *globalUpdater[K, V]) Close() error { return nil }
