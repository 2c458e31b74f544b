// Package runtime runs eddy topologies: the compiled Topology, the Processor API and
// the task engine that the application and the test driver (package
// runtime/testdriver) share.
//
// # Topology
//
// A Topology is a graph of sources, processors and sinks, with state stores connected
// to processors, built with AddSource, AddProcessor, AddSink, AddStateStore,
// AddRepartitionTopic and AddGlobalStore (the dsl package builds one from its fluent
// API). Each add checks names, parents and types at once: a child must take exactly the
// Record[K, V] its parents forward. Validate checks the rest. Sub-topologies are the
// connected components of the graph, where a store shared by processors connects them
// and a repartition topic does not (its sink ends one sub-topology, its source starts
// another); they are numbered in the order their first source was added, global stores
// included, and Describe prints them in Kafka Streams' TopologyDescription format or as
// a Mermaid flowchart.
//
// Internally nodes are type-erased: each node is built per task from a typed closure,
// and a parent holds its children as typed receivers found by one type assertion at
// build time, so forwarding a record is a direct call that neither boxes nor allocates.
//
// # Nulls
//
// Kafka's null key or value (nil bytes) goes to the source's serde as it is:
// serde.Bytes and serde.Nullable carry it; for a serde that cannot represent null
// (Decode fails with serde.ErrNull) the record gets the zero K or V instead. Topologies
// that must see tombstones read with serde.Nullable, and a sink writes null when its
// serde encodes a value to nil bytes.
//
// # The task engine
//
// A Task runs one sub-topology for one partition group with no Kafka I/O: Add queues
// ConsumedRecords per input partition, Process handles the queued head with the
// smallest timestamp (ties in the order records were added), and sink output and
// changelog writes leave as ProducedRecords through a RecordCollector. Stream time is
// the largest timestamp processed. A timestamp comes from the source's
// TimestampExtractor (the record's own by default); a negative one skips the record,
// counted in TaskMetrics.SkippedInvalidTimestamp, as Kafka's
// LogAndSkipOnInvalidTimestamp extractor does (Kafka's default extractor fails
// instead). Records that fail to decode go to OnDeserializationError, errors returned
// by processors and punctuators to OnProcessingError; each fails the task or skips and
// counts the record. Commit flushes the stores' caches, whose flush listeners forward
// downstream (this is how cached aggregations emit), commits the stores with the
// changelog offsets they reflect, and returns the next input offsets to commit.
//
// # The application
//
// New and App.Run run a topology on Kafka-protocol brokers, talking to them only with
// franz-go. At start Run checks that the source topics exist (ErrMissingSourceTopics)
// and that the sources of each sub-topology have equal partition counts
// (ErrCopartitioning), sizes tasks and repartition topics with PlanPartitions (as the
// test driver does), and creates the internal topics: changelogs compacted, with one
// partition per task, and repartition topics.
//
// Each of Config.Threads stream threads is a consumer group member (the group is the
// application ID) with a group balancer that assigns tasks, not partitions: a task's
// co-partitioned source partitions go to one member, tasks stay where they were across
// rebalances, then go where their state is on disk, and members get balanced task
// counts, per sub-topology where possible. The protocol is eager, and a thread keeps a
// revoked task's state open until the assignment says whether it comes back. A thread
// polls, queues records in their tasks, processes them, fires wall-clock punctuators,
// pauses partitions whose queue is full, and every CommitInterval commits its tasks
// (stores flush and send their changelog records), flushes its producer, commits the
// input offsets and writes each task's checkpoint file: at least once.
//
// State lives under StateDir/<application-id>, locked by one instance
// (ErrStateDirLocked): persistent stores in Badger under <task>/<store>, with a
// .checkpoint file per task. A task's stores are restored from their changelogs
// before it runs, from the offset the engine last committed (atomically with the
// state) to the end, in batches, reported to Config.RestoreListener. App.State and
// Config.StateListener follow the instance through its AppStates.
package runtime
