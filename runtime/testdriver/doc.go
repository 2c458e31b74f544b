// Package testdriver runs a runtime.Topology in-process, with no broker, for tests:
// the same tasks, processors, stores and punctuation as production, with the Kafka
// I/O replaced by in-memory topics.
//
// It plays the part of Kafka Streams' TopologyTestDriver, with one difference on
// purpose: input topics may have any number of partitions. The driver creates one task
// per (sub-topology, partition), as the production runtime does, routes each piped
// record to the partition its key hashes to (runtime.DefaultPartition, Kafka's
// murmur2), and carries records through repartition topics, kept in memory, to the
// tasks downstream. A test therefore sees the partitioning of a real deployment: state
// split across tasks, and records that meet only after a repartition.
//
// # Processing
//
// The driver is single-threaded and deterministic. Each Pipe call processes the record
// to completion before it returns: the task takes it, records its sinks write to
// repartition topics (or to any topic a source reads) go on to the tasks that read
// them, and then every task that did work commits, which flushes record caches so that
// cached aggregations emit, exactly as Kafka's driver commits after every record.
// Batch queues several records before processing them, to exercise the timestamp
// order in which a task picks among its partitions.
//
// A record that fails (a processor error, a key that the source cannot decode) fails
// the call that piped it; the driver is then failed, as a production task would be
// closed, and every later call returns an error wrapping ErrFailed. Configure
// Config.OnDeserializationError or OnProcessingError with runtime.ContinueOnError to
// skip and count such records instead (see Driver.TaskMetrics).
//
// # Time
//
// Record timestamps come from the input topic: a start time that advances by a fixed
// step with each record, as Kafka's TestInputTopic does, or explicit per record. Stream
// time follows them and fires stream-time punctuators. The wall clock is mocked: it
// starts at Config.InitialWallClock and moves only with AdvanceWallClockTime, which
// fires wall-clock punctuators.
//
// # Topics
//
// Output topics, repartition topics and changelog topics
// (runtime.ChangelogTopic(appID, store)) keep every record written to them, with its
// partition and offset, and are read with OutputTopic.
//
// # Stores
//
// Stores come from the same state providers as in production: in memory by default,
// or Badger under Config.StateDir for persistent stores. GetStore returns one task's
// store; ReadKeyValueStore reads a key-value store across all tasks. Tests should only
// read stores: a write bypasses the changelog a processor's write would reach.
package testdriver
