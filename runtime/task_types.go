package runtime

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/eddy-io/eddy/state"
)

// String returns the task ID as Kafka Streams writes it, "1_3".
func (id TaskID) String() string {
	return strconv.Itoa(id.Subtopology) + "_" + strconv.FormatInt(int64(id.Partition), 10)
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic-partition", the form changelog offsets are keyed by in stores'
// commits (state.Engine.Commit).
func (tp TopicPartition) String() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// ConsumedRecord is a record as read from a topic, before decoding.
type ConsumedRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte // nil: null
	Value     []byte // nil: null (a tombstone)
	Timestamp int64
	Headers   []Header
}

// ProducedRecord is a record for a producer to send: sink output or a changelog write.
type ProducedRecord struct {
	Topic string
	// Partition is the destination partition; -1 lets the producer pick it by hashing
	// the key (DefaultPartition).
	Partition int32
	Key       []byte
	Value     []byte
	Timestamp int64
	Headers   []Header
}

// RecordCollector takes the records a task produces. The task may reuse nothing it
// passes: Send may keep the record and its slices.
type RecordCollector interface {
	Send(r ProducedRecord) error
}

// RecordCollectorFunc adapts a function into a RecordCollector.
type RecordCollectorFunc func(r ProducedRecord) error

// Send calls f(r).
func (f RecordCollectorFunc) Send(r ProducedRecord) error { return f(r) }

// OffsetCollector is a RecordCollector that knows the offsets its records got. When
// the task's Output implements it, Commit calls Flush after the stores have flushed and
// commits each logged store with the next offset of its changelog partition, so that a
// store's commit names the changelog position it reflects.
type OffsetCollector interface {
	RecordCollector
	// Flush waits until every record sent so far has been written.
	Flush() error
	// NextOffset returns the offset after the last record written to topic-partition.
	NextOffset(topic string, partition int32) (int64, bool)
}

// ErrorAction is an error handler's verdict.
type ErrorAction int

const (
	// ActionFail stops the task: the call that met the error returns it.
	ActionFail ErrorAction = iota
	// ActionContinue skips the record (or the punctuation), counts it in TaskMetrics and
	// goes on; the record's offset counts as processed.
	ActionContinue
)

// ErrorContext tells an error handler what failed.
type ErrorContext struct {
	// TaskID is the task that met the error.
	TaskID TaskID
	// Node is the node that failed, when known (empty for deserialization errors).
	Node string
	// Record is the raw record, or nil for a failed punctuation. It is valid only
	// during the handler's call.
	Record *ConsumedRecord
	// Punctuation is set when a punctuator failed.
	Punctuation bool
	// Output is the task's RecordCollector: what a handler sends there, such as the
	// failed record to a dead-letter topic (SendToDeadLetterTopic), leaves with the
	// task's output, before the commit that covers the record's offset.
	Output RecordCollector
}

// ErrorHandler decides what to do with a record that failed to decode or process.
type ErrorHandler func(ec ErrorContext, err error) ErrorAction

// FailOnError is the default handler: stop at the first error, as Kafka Streams'
// LogAndFailExceptionHandler does.
func FailOnError(ErrorContext, error) ErrorAction { return ActionFail }

// ContinueOnError skips every failed record, as Kafka Streams'
// LogAndContinueExceptionHandler does; the task logs it at warning level and counts it.
func ContinueOnError(ErrorContext, error) ErrorAction { return ActionContinue }

// TaskConfig configures one task.
type TaskConfig struct {
	// ApplicationID prefixes internal topics: changelogs and repartition topics.
	ApplicationID string
	// ID is the task: its sub-topology and partition.
	ID TaskID
	// Partitions are the task's input partitions, one per source topic of the
	// sub-topology (resolved names, see Topology.Subtopologies). Empty means every
	// source topic at partition ID.Partition.
	Partitions []TopicPartition
	// Stores opens persistent stores.
	Stores state.Provider
	// MemoryStores opens in-memory stores; nil gives the task a provider of its own,
	// closed with it.
	MemoryStores state.Provider
	// Output takes sink records and changelog writes.
	Output RecordCollector
	// PartitionCount returns a topic's partition count for sinks with a Partitioner.
	PartitionCount func(topic string) int32
	// MaxBufferedPerPartition is the queue length at which ShouldPause reports true;
	// zero means 1000.
	MaxBufferedPerPartition int
	// MaxTaskIdle is how long, by Now, the task waits for data on an empty input
	// partition that is caught up before processing the others (Kafka's
	// max.task.idle.ms). Zero does not wait for such partitions, as the test driver
	// wants. A partition known by SetEndOffset to have records on the broker not yet
	// fetched (or, once SetEndOffset was called for any partition, one not fetched
	// yet) holds the task back for max(MaxTaskIdle, DefaultLagIdle) whatever its
	// value. Negative (-1) never waits, not even for those.
	MaxTaskIdle time.Duration
	// Now returns wall-clock time in milliseconds; nil is the system clock.
	Now func() int64
	// Logger receives warnings about skipped records; nil discards them.
	Logger *slog.Logger
	// OnDeserializationError handles records the source serdes cannot decode; nil is
	// FailOnError.
	OnDeserializationError ErrorHandler
	// OnProcessingError handles errors returned by processors and punctuators; nil is
	// FailOnError.
	OnProcessingError ErrorHandler
	// Restore, if set, is called for each logged store with its engine before the
	// store is built, to load the changelog into it.
	Restore func(store string, changelog TopicPartition, engine state.Engine) error
	// Globals gives processors read access to the global stores.
	Globals *GlobalTask
}

// TaskMetrics counts what a task did.
type TaskMetrics struct {
	// Processed counts records that went through the topology.
	Processed int64
	// SkippedInvalidTimestamp counts records whose extracted timestamp was negative;
	// they are skipped as Kafka's LogAndSkipOnInvalidTimestamp extractor does.
	SkippedInvalidTimestamp int64
	// SkippedDeserialization counts records skipped by OnDeserializationError.
	SkippedDeserialization int64
	// SkippedProcessing counts records skipped by OnProcessingError.
	SkippedProcessing int64
	// SkippedUnknownPartition counts records given to Add for a partition the task
	// does not own.
	SkippedUnknownPartition int64
	// DroppedLate counts records that windowed aggregations and stream-stream joins
	// dropped because they arrived after their window closed (window end + grace, by
	// stream time); see ProcessorContext.LateRecordDropped. The records did go through
	// the topology, so Processed counts them too.
	DroppedLate int64
	// StreamTimePunctuations and WallClockPunctuations count punctuator calls.
	StreamTimePunctuations int64
	WallClockPunctuations  int64
}
