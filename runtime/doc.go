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
// stores (all at once, each with the changelog offsets it reflects) and then the
// input offsets: at least once.
//
// # Exactly once
//
// With Config.ProcessingGuarantee ExactlyOnce (Kafka Streams' exactly_once_v2, on any
// broker with transactions), each thread's client is a transactional producer
// (kgo.GroupTransactSession) whose ID is <application-id>-<process-id>-<thread>, the
// process ID kept in the state directory, and every consumer reads read_committed
// (input, and the changelogs when restoring or keeping standbys). A thread starts
// by initializing its producer ID, which fences a predecessor with the same ID and
// aborts its open transaction. A transaction begins before a round of processing;
// at each commit interval (100ms by default) the stores flush into it, and it
// commits with the tasks' input offsets (TxnOffsetCommit with the group generation,
// KIP-447: the offsets of the records processed, not of those polled). Only after it
// commits do the stores commit, each with the changelog offset it reflects, so a
// store is never ahead of its committed changelog: after a crash it reopens at its
// last commit and replays the changelog tail written since (at most the last
// transaction), where Kafka Streams wipes the store and restores it all. Before
// restoring, a thread waits until no transaction is open on the changelog partition
// (a previous owner may still commit or abort), then reads up to its last stable
// offset.
//
// Rebalances wait for the open transaction to end, so a revocation never meets
// uncommitted work; revoked tasks are closed and created again, from their stores and
// the changelog tail, if they come back. A transaction that does not commit rewinds
// the thread: its tasks close without committing, which rolls the stores back, and
// start again from the input offsets committed on the group coordinator (read with
// RequireStable, since a commit the client saw fail may have gone through). That
// covers the group moving on, abortable errors, and failures a retry may clear: the
// brokers unreachable or restarting, a producer epoch the coordinator bumped when it
// aborted the transaction (a timeout, or a restart of the bundled broker), a record
// refused for the transaction's sake. The thread then aborts, retrying until the
// abort goes through (kgo reinitializes the producer ID when needed, KIP-360 and
// KIP-588), for up to five minutes; restores that cannot read the changelogs are
// retried as long. A fenced producer (PRODUCER_FENCED) stops the application with
// ErrFenced; any other failure aborts the open transaction before Run returns.
//
// An instance records in its state directory how many threads it runs, and one
// restarted with fewer fences the transactional IDs of the threads it dropped before
// its threads start, aborting the transactions they left open, which would otherwise
// hold back the restore of their changelogs until they time out.
//
// State lives under StateDir/<application-id>, locked by one instance
// (ErrStateDirLocked): persistent stores in Badger under <task>/<store>. A store
// commits the changelog offsets it reflects atomically with its state, so no
// checkpoint file is kept beside it. A task's stores are restored from their
// changelogs before it runs, from the offset the engine last committed to the end:
// one client reads all of the task's changelog partitions at once, with large
// fetches, while the records already read are applied to the engines in batches of
// up to 200,000 records or 8 MiB (state.Restorer), reported to
// Config.RestoreListener and the restore metrics. App.State and Config.StateListener
// follow the instance through its AppStates.
//
// # Standby replicas
//
// With Config.StandbyReplicas n, the group leader also gives each stateful task (one
// with logged stores) up to n standbys, each on a different instance other than the
// one running the task: the threads of an instance share its disk, so instances, not
// threads, are what the balancer counts (each instance names itself with a random ID
// in its group metadata). An instance that keeps a task's standby keeps it across
// rebalances; otherwise standbys go where the task's state is on disk, then to the
// instances with the fewest. The standbys travel with the task map in every member's
// assignment, and App.AllMetadata lists them (InstanceMetadata.StandbyTasks).
//
// An instance keeps its standbys with one client of its own, outside the consumer
// group, reading their changelog partitions from the offsets the engines last
// committed and applying each fetch to the stores' engines with the offsets it
// reaches; a standby processes nothing and writes nothing to Kafka, and its stores
// cannot be queried. Members report the standbys they keep when they join, and the
// balancer sends a task that needs a new home to a member with room whose instance
// keeps its standby before any other: when an instance dies or leaves, its tasks go
// to their standbys, which restore only what they had not applied yet. A standby that
// leaves the instance's set (the task moved elsewhere, or became active here) is
// closed; its state stays on disk, so it still counts as local state later.
//
// Unlike Kafka Streams, eddy has no warm-up replicas or probing rebalances: when the
// members keeping a task's standby have no room under the balanced share, the task
// goes elsewhere and restores fully, and a task never moves back once its standby
// catches up.
//
// # Interactive queries
//
// App.QueryKeyValueStore gives typed, read-only access to a key-value store (a table's
// timestamped store too) across the active tasks of this instance: Get finds the key's
// task by its partition, Range and All merge every local task in key order. A store
// that cannot be read here now (unknown, the application not running, the task
// rebalancing or on another instance) fails with ErrStoreNotAvailable, ErrKeyNotLocal
// for a key hosted elsewhere. Each instance advertises Config.ApplicationServer in the
// group metadata, and the leader puts the whole task map in every assignment, so
// App.KeyOwner names the instance hosting a key and App.AllMetadata and
// App.MetadataForStore list the instances with their tasks and stores.
// NewQueryHandler is the opt-in HTTP endpoint, registered per store with
// RegisterKeyValueQuery, answering key and range queries in JSON and forwarding a key
// query to the instance that owns it; serve it at the ApplicationServer address.
//
// # Metrics
//
// With Config.Registerer set, Run registers Prometheus metrics, labelled with the
// application_id: eddy_app_state, eddy_task_processed_records_total,
// eddy_task_dropped_records_total (by reason), eddy_task_process_latency_seconds,
// eddy_thread_commit_latency_seconds, eddy_task_restored_records_total,
// eddy_task_restore_remaining_records and eddy_consumer_lag_records; the doc of
// Config.Registerer details their labels. Close unregisters them.
//
// # Dead letters
//
// Config.OnDeserializationError and OnProcessingError take an ErrorHandler:
// FailOnError (the default) stops the application, ContinueOnError skips and counts
// the record, and SendToDeadLetterTopic(topic) writes the failed record to topic with
// its key, value, timestamp and headers plus the DeadLetterHeader* headers (Kafka
// Streams' KIP-1034 names) saying where it came from and why, then continues. The
// dead letter goes out with the task's output, before the commit that passes its
// offset; the topic must exist.
package runtime
