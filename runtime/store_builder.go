package runtime

import (
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// Store is what the task engine needs of every state store: the typed stores of package
// state (*state.KeyValueStore and the others) implement it. Processors get the typed
// store itself from ProcessorContext.Store or GetStore.
type Store interface {
	// Name returns the store's name.
	Name() string
	// Flush passes cached writes down to the changelog and the engine; a cache's flush
	// listener forwards them downstream from there.
	Flush() error
	// Commit makes the store's writes durable with the changelog offsets they reflect.
	Commit(offsets map[string]int64) error
	// Close releases the store, discarding what was not committed.
	Close() error
}

// StoreBuilder makes one task's instance of a store. The task opens its engine from a
// provider and passes a changelog sink when the store is logged.
type StoreBuilder interface {
	// Name returns the store's name, unique in a topology.
	Name() string
	// Logged reports whether writes go to the changelog "<app-id>-<name>-changelog".
	Logged() bool
	// Persistent reports whether the store lives on disk (Badger) rather than in memory.
	Persistent() bool
	// Build returns the store over engine; sink is nil when the store is not logged.
	Build(engine state.Engine, sink state.ChangelogSink) (Store, error)
}

// DefaultCacheBytes is the record cache size of a caching store whose options leave
// CacheBytes at zero: Kafka Streams' 10 MiB default.
const DefaultCacheBytes = 10 << 20

// StoreOptions are the layers and engine of a store.
type StoreOptions struct {
	// Persistent keeps the store in Badger; false keeps it in memory.
	Persistent bool
	// Logging sends every write to the store's changelog topic.
	Logging bool
	// Caching merges writes per key in a record cache until the task commits.
	Caching bool
	// CacheBytes bounds the cache; zero means DefaultCacheBytes.
	CacheBytes int64
}

// layers returns the state options opts ask for over sink.
func (o StoreOptions) layers(sink state.ChangelogSink) []state.Option {
	var opts []state.Option
	if sink != nil {
		opts = append(opts, state.WithLogging(sink))
	}
	if o.Caching {
		size := o.CacheBytes
		if size <= 0 {
			size = DefaultCacheBytes
		}
		opts = append(opts, state.WithCaching(size))
	}
	return opts
}

// storeBuilder implements StoreBuilder with a build function.
type storeBuilder struct {
	name  string
	opts  StoreOptions
	build func(engine state.Engine, layers []state.Option) (Store, error)
}

func (b *storeBuilder) Name() string     { return b.name }
func (b *storeBuilder) Logged() bool     { return b.opts.Logging }
func (b *storeBuilder) Persistent() bool { return b.opts.Persistent }

func (b *storeBuilder) Build(engine state.Engine, sink state.ChangelogSink) (Store, error) {
	if !b.opts.Logging {
		sink = nil
	}
	return b.build(engine, b.opts.layers(sink))
}

// KeyValueStoreBuilder builds a *state.KeyValueStore[K, V].
func KeyValueStoreBuilder[K, V any](name string, keys serde.Serde[K], values serde.Serde[V], opts StoreOptions) StoreBuilder {
	return &storeBuilder{name: name, opts: opts, build: func(e state.Engine, layers []state.Option) (Store, error) {
		return state.NewKeyValueStore(name, e, keys, values, layers...), nil
	}}
}

// TimestampedKeyValueStoreBuilder builds a *state.TimestampedKeyValueStore[K, V]: each
// value with the timestamp of the record that wrote it, as tables keep them.
func TimestampedKeyValueStoreBuilder[K, V any](name string, keys serde.Serde[K], values serde.Serde[V], opts StoreOptions) StoreBuilder {
	return &storeBuilder{name: name, opts: opts, build: func(e state.Engine, layers []state.Option) (Store, error) {
		return state.NewTimestampedKeyValueStore(name, e, keys, values, layers...), nil
	}}
}

// WindowStoreBuilder builds a *state.WindowStore[K, V].
func WindowStoreBuilder[K, V any](name string, keys serde.Serde[K], values serde.Serde[V], cfg state.WindowConfig, opts StoreOptions) StoreBuilder {
	return &storeBuilder{name: name, opts: opts, build: func(e state.Engine, layers []state.Option) (Store, error) {
		return storeOrNil(state.NewWindowStore(name, e, keys, values, cfg, layers...))
	}}
}

// TimestampedWindowStoreBuilder builds a *state.TimestampedWindowStore[K, V].
func TimestampedWindowStoreBuilder[K, V any](name string, keys serde.Serde[K], values serde.Serde[V], cfg state.WindowConfig, opts StoreOptions) StoreBuilder {
	return &storeBuilder{name: name, opts: opts, build: func(e state.Engine, layers []state.Option) (Store, error) {
		return storeOrNil(state.NewTimestampedWindowStore(name, e, keys, values, cfg, layers...))
	}}
}

// SessionStoreBuilder builds a *state.SessionStore[K, V].
func SessionStoreBuilder[K, V any](name string, keys serde.Serde[K], values serde.Serde[V], cfg state.SessionConfig, opts StoreOptions) StoreBuilder {
	return &storeBuilder{name: name, opts: opts, build: func(e state.Engine, layers []state.Option) (Store, error) {
		return storeOrNil(state.NewSessionStore(name, e, keys, values, cfg, layers...))
	}}
}

// storeOrNil keeps a failed constructor's nil pointer out of the Store interface.
func storeOrNil[S Store](s S, err error) (Store, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}
