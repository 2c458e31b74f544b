package dsl

import (
	"fmt"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// Operators take their options as a trailing variadic value, so the common case needs
// none: s.To("out") when the stream's serdes are known, s.To("out",
// dsl.Produced[string, int64]{Values: serde.Int64()}) when not. Passing more than one
// options value is a Build error wrapping ErrInvalidOption. Operators returning a table
// take a Named and a Materialized both, as [TableOption]s.
//
// Serdes left nil are taken from upstream where the DSL knows them: a source's
// Consumed serdes flow through every operator that keeps the key or value type
// (Filter keeps both, MapValues keeps the key's, and a MapValues from string to
// string keeps the value's too), and an aggregate's Materialized serdes flow into the
// table it returns. A serde needed and not known is a Build error
// wrapping ErrSerdeRequired.

// Named gives the processor an operator adds an explicit name instead of a generated
// one (Kafka Streams' Named). For Split it is the prefix of the branch names. On an
// operator that keeps state it names the processor only, never the store: see
// [TableOption].
type Named string

// TableOption is an option of an operator that returns a table (an aggregation,
// ToTable, a table Filter, MapValues or join): a [Named] naming its processor, or a
// [Materialized] of the table's key and value types saying how its store is kept. Each
// may be given once, in either order:
//
//	g.Count(dsl.Named("count-words"), dsl.Materialized[string, int64]{Name: "counts"})
//
// Windowed aggregations also take an [EmitStrategy].
//
// As in Kafka Streams, Named never names the store: a Materialized without a Name
// still gets a generated store name (see the package documentation, "Names").
//
// Go cannot check a Materialized's type arguments here, since no interface that Named
// satisfies can mention them, so a Materialized of other types than the table's is a
// Build error wrapping ErrInvalidOption.
type TableOption interface{ tableOption() }

func (Named) tableOption()              {}
func (Materialized[K, V]) tableOption() {}

// tableOptions is what an operator returning a table was given.
type tableOptions[K, V any] struct {
	named string
	m     Materialized[K, V]
	// materialized is set when a Materialized was given, even an empty one.
	materialized bool
}

// tableOpts sorts the options of op, recording an error for a repeated option or a
// Materialized of other types than K and V.
func tableOpts[K, V any](b *Builder, op string, opts []TableOption) tableOptions[K, V] {
	var o tableOptions[K, V]
	var namedSeen bool
	for _, opt := range opts {
		switch opt := opt.(type) {
		case Named:
			if namedSeen {
				b.fail(fmt.Errorf("%w: %s takes at most one Named", ErrInvalidOption, op))
			}
			o.named, namedSeen = string(opt), true
		case Materialized[K, V]:
			if o.materialized {
				b.fail(fmt.Errorf("%w: %s takes at most one Materialized", ErrInvalidOption, op))
			}
			o.m, o.materialized = opt, true
		default:
			b.fail(fmt.Errorf("%w: %s takes options Named and %T, not %T", ErrInvalidOption, op, Materialized[K, V]{}, opt))
		}
	}
	return o
}

// Consumed says how a source topic is read.
type Consumed[K, V any] struct {
	// Keys and Values decode the topic's records; both are required. A table source
	// wraps Values in serde.Nullable itself, so a null value deletes the key.
	Keys   serde.Serde[K]
	Values serde.Serde[V]
	// Timestamps picks each record's timestamp; nil uses the timestamp it carries.
	Timestamps runtime.TimestampExtractor
	// OffsetReset is where to start without a committed offset; the zero value defers
	// to the application's configuration.
	OffsetReset runtime.OffsetReset
	// Name names the source processor; generated (KSTREAM-SOURCE-0000000000) if empty.
	Name string
}

// Produced says how a stream is written to a topic.
type Produced[K, V any] struct {
	// Keys and Values encode the records; nil takes the stream's serdes.
	Keys   serde.Serde[K]
	Values serde.Serde[V]
	// Partitioner picks the partition of a record; nil, or a false second result, uses
	// the default: murmur2 of the key bytes, as Kafka's producer does.
	Partitioner func(topic string, key K, value V, numPartitions int32) (int32, bool)
	// Name names the sink processor; generated (KSTREAM-SINK-0000000004) if empty.
	Name string
}

// Grouped says how a stream or table is grouped for an aggregation.
type Grouped[K, V any] struct {
	// Name is the base of the repartition topic, "<app-id>-<Name>-repartition", when
	// the grouping needs one; empty names it after the aggregate's store.
	Name string
	// Keys and Values encode the repartition topic's records; nil takes the stream's
	// serdes.
	Keys   serde.Serde[K]
	Values serde.Serde[V]
}

// Repartitioned says how Repartition writes and reads its internal topic.
type Repartitioned[K, V any] struct {
	// Name is the base of the topic, "<app-id>-<Name>-repartition", and of its sink and
	// source processors; generated (KSTREAM-REPARTITION-0000000000) if empty.
	Name string
	// Keys and Values encode the records; nil takes the stream's serdes.
	Keys   serde.Serde[K]
	Values serde.Serde[V]
	// Partitions is the topic's partition count; 0 takes that of the upstream source
	// topics.
	Partitions int32
	// Partitioner picks the partition of a record; nil, or a false second result, uses
	// murmur2 of the key bytes.
	Partitioner func(topic string, key K, value V, numPartitions int32) (int32, bool)
}

// Materialized says how a table is kept in a state store.
type Materialized[K, V any] struct {
	// Name names the store, which names its changelog topic
	// "<app-id>-<Name>-changelog"; a name is generated if empty (see the package
	// documentation, "Names"). Naming every store is how an application keeps its state
	// across any change of its topology.
	Name string
	// Keys and Values encode the store's entries; nil takes the serdes known upstream.
	Keys   serde.Serde[K]
	Values serde.Serde[V]
	// InMemory keeps the store in memory instead of Badger on disk; it is rebuilt from
	// its changelog when a task starts.
	InMemory bool
	// Caching puts a record cache in front of the store: updates of a key within a
	// commit interval are merged, and the table forwards only the last one when the
	// cache flushes (on commit or eviction), as Kafka Streams does with its default
	// cache. Off by default here, so every update flows downstream at once.
	Caching bool
	// CacheBytes bounds the cache; 0 uses the runtime's default.
	CacheBytes int64
	// LoggingDisabled turns the changelog off: the store is then lost with its disk
	// (or at every restart when InMemory).
	LoggingDisabled bool
	// Retention is how long a windowed aggregation keeps a window, and so how long
	// interactive queries can read it, after stream time passes its start (for session
	// windows, its end). Zero keeps the least that works: window size + grace for time
	// windows, 2 × time difference + grace + 1ms for sliding windows, gap + grace + 1ms
	// for sessions; a shorter one is a Build error wrapping ErrInvalidWindows. Other
	// stores ignore it.
	Retention time.Duration
}

// Processed names a Process or ProcessValues node and the stores its processor uses.
type Processed struct {
	// Name names the processor; generated (KSTREAM-PROCESSOR-0000000002) if empty.
	Name string
	// Stores are the names of stores added with Builder.AddStateStore that the
	// processor reaches through its context.
	Stores []string
}
