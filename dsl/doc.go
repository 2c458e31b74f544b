// Package dsl is eddy's typed, fluent topology builder: Kafka Streams' StreamsBuilder,
// KStream and KTable for Go. A Builder reads topics into a [Stream] or a [Table];
// operators chain, the type-changing ones included, since Go 1.27 lets methods have
// type parameters:
//
//	counts := b.Stream("lines", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
//		FlatMapValues(strings.Fields).
//		GroupBy(func(_, word string) string { return word }).
//		Count(dsl.Materialized[string, int64]{Name: "counts"})
//
// Build compiles the operators into a [runtime.Topology], which the runtime runs on
// Kafka and the test driver runs in-process. Semantics are Kafka Streams' unless said
// otherwise here or on an operator.
//
// # Partitioning
//
// A key-changing operator (Map, FlatMap, SelectKey, Process, GroupBy) marks its stream:
// its records may sit in a partition their new key does not hash to. A grouping or
// ToTable after it first writes the records to a repartition topic and reads them back,
// as Kafka Streams does. The topic is "<app-id>-<name>-repartition", where name is the
// Grouped name if given (for ToTable, its Named), else the store's name; its sink and
// source processors are "<name>-repartition-sink" and "<name>-repartition-source".
// Table GroupBy always repartitions.
//
// # Names
//
// Every processor, store and internal topic has a deterministic name, and an explicit
// one when given: Named and Consumed, Produced, Processed names for processors,
// Materialized.Name for stores (and so their changelog topics
// "<app-id>-<store>-changelog"), Grouped and Repartitioned names for repartition topics.
//
// Operators that return a table (aggregations, ToTable, table Filter, MapValues and
// joins) take a Named and a Materialized together (see [TableOption]), and follow Kafka
// Streams' rule (KIP-307): Named names processors only, never a store. A Materialized
// without a Name gets a generated store name, the same with a Named as without, and
// the repartition topic of an aggregation is named by Grouped or else after the store.
// Where one operator adds several processors, a Named n names them as Kafka Streams
// does: n, "<n>-join-this" and "<n>-join-other" for a table join; "<n>-cogroup-agg-<i>"
// and "<n>-cogroup-merge" for a cogroup's Aggregate. ToTable is Kafka Streams'
// exception: its repartition topic, when it needs one, is named after its Named.
//
// A table Filter or MapValues is a view computed from its parent, with no store, unless
// given a Materialized: then its result is kept in a store of its own, which
// interactive queries read and whose changelog, caching and engine the Materialized
// sets, and which later lookups of the table (joins) read instead of recomputing it.
//
// Generated processor names are Kafka Streams' own: the operator's kind and a counter
// over every generated name, KSTREAM-FILTER-0000000001. Processors hold no state, so
// the counter shifting when an operator is added is harmless.
//
// Generated store and internal topic names are where we do better on purpose. Kafka
// Streams numbers them with the same global counter, so adding a Filter upstream of an
// aggregation renames its store, its changelog and its repartition topic, and the
// application silently starts from empty state. Here they are numbered per kind
// instead:
//
//	KSTREAM-AGGREGATE-STATE-STORE-<n>   n-th Count or Aggregate of a GroupedStream,
//	                                    windowed or not
//	KSTREAM-REDUCE-STATE-STORE-<n>      n-th Reduce of a GroupedStream, windowed or not
//	KTABLE-SUPPRESS-STATE-STORE-<n>     n-th Suppress buffer without a Named
//	KTABLE-AGGREGATE-STATE-STORE-<n>    n-th Count or Aggregate of a GroupedTable
//	KTABLE-REDUCE-STATE-STORE-<n>       n-th Reduce of a GroupedTable
//	COGROUPKSTREAM-AGGREGATE-STATE-STORE-<n>, KSTREAM-TOTABLE-STATE-STORE-<n>,
//	KTABLE-JOIN-STATE-STORE-<n> (a materialized join), KTABLE-FILTER-STATE-STORE-<n>
//	and KTABLE-MAPVALUES-STATE-STORE-<n> (a materialized table Filter or MapValues),
//	KSTREAM-REPARTITION-<n> (Repartition), and <topic>-STATE-STORE-<n> (the n-th
//	table read from topic)
//
// where n counts the earlier generated names of the same kind, from 0, in the order the
// operators are called. So adding, removing or changing a stateless operator, an
// explicitly named stateful one, or a stateful one of another kind renames nothing, nor
// does giving a processor a Named (in Kafka Streams a named processor stops drawing
// from the counter, which renumbers the state after it); adding an unnamed stateful
// operator of the same kind earlier in the code shifts the later ones. Name every store
// of an application that must keep its state across topology changes; Kafka Streams
// gives the same advice.
//
// # Tables, old values and tombstones
//
// Table nodes forward each update with the value it replaces (Kafka Streams' Change
// with old values always sent), so a table aggregation subtracts a row's old value
// from its old group before adding the new one, and joins retract rows that stop
// joining. Functions given to table operators (filters, mappers, GroupBy selectors,
// joiners) must be pure: they are applied again to old values and on lookups.
//
// Kafka's null value is a delete. A Go value of type V cannot be null, so:
//
//   - Builder.Table and Builder.GlobalTable decode values with serde.Nullable of the
//     given serde: a record with nil value bytes deletes its key.
//   - Table.ToStream returns a Stream[K, *V]: a delete is a record with a nil value,
//     written to a topic as a tombstone by serde.Nullable (the default serde when the
//     table's value serde is known).
//   - LeftJoin and OuterJoin joiners take the side that may be missing as a pointer.
//   - Stream values are never null, so Stream.ToTable never deletes.
//
// # Windows
//
// GroupedStream.WindowedBy (TimeWindows, SlidingWindows) and SessionWindowedBy give
// windowed Count, Reduce and Aggregate, and CogroupedStream has the same, each
// returning a table keyed by serde.Windowed[K]. Windows are aligned to the epoch and
// half-open, [start, end), except sliding and session windows, whose ends are
// included, as in Kafka Streams. Each windowed processor tracks the stream time it
// observes, the largest timestamp that reached it; a record for a window whose end +
// grace is at or before it is late: dropped from that window, counted per task in
// runtime.TaskMetrics.DroppedLate (eddy_task_dropped_records_total{reason="late"}) and
// in Builder.DroppedLateRecords, and sent to the stream WithLateRecords asks for.
// EmitOnWindowClose and Table.Suppress give final results only.
//
// # Where we differ from Kafka Streams
//
//   - Store, changelog and repartition names are numbered per kind (see Names).
//   - A table Filter or MapValues given a Materialized without a Name is materialized,
//     under a generated store name, as a join is; Kafka Streams materializes these two
//     only when Materialized names the store, and otherwise takes just its serdes.
//   - Go cannot overload, so count(Named, Materialized) and its kin take both as
//     [TableOption]s, and a Materialized of the wrong types is a Build error rather than
//     a compile error.
//   - Materialized.Caching is off by default, so every table update flows downstream at
//     once; with it on, updates are merged per key until the cache flushes, as in Kafka
//     Streams. A delete forwarded by a cache flush carries the task's stream time, not
//     the deleting record's timestamp, which the cache does not keep.
//   - Tables read from a topic are always materialized (Kafka Streams materializes them
//     only when needed), so their old values are always known.
//   - Split's map keys are the branch names with the prefix given to Split, or the bare
//     names without one.
//   - Two aggregations of one grouping under the same Grouped name share its
//     repartition topic; Kafka Streams rejects the topology.
//   - Serdes flow to downstream operators whenever the Go type is unchanged (see
//     Produced); Kafka Streams falls back to the configured default serdes instead.
//   - Windowed aggregations can send their late records to a stream
//     (WithLateRecords), and count a record dropped from several hopping windows once.
//     A record inside an existing session updates it, where Kafka Streams forwards a
//     delete and a re-creation of the same session. Sliding windows of records earlier
//     than the time difference start before the epoch, where Kafka Streams folds them
//     into one [0, d] window. Session windowing is SessionWindowedBy, since Go cannot
//     overload WindowedBy.
//   - Suppress(UntilWindowCloses) of sliding and session windows emits 1ms after
//     Kafka Streams, once no record can reach the window any more.
package dsl
