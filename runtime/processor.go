package runtime

import "time"

// Processor is a node of a topology that handles records one at a time and may forward
// records of other types to its children. The task engine calls Init once before the
// first record, Process for each record, and Close when the task closes.
type Processor[KIn, VIn, KOut, VOut any] interface {
	Init(ctx ProcessorContext[KOut, VOut]) error
	Process(r Record[KIn, VIn]) error
	Close() error
}

// ProcessorFunc adapts a function to a Processor with nothing to set up or release, as
// http.HandlerFunc does for handlers.
type ProcessorFunc[KIn, VIn, KOut, VOut any] func(ctx ProcessorContext[KOut, VOut], r Record[KIn, VIn]) error

// ProcessorContext is what a processor sees of its task: where to forward records, its
// stores, its punctuation schedule and the record being processed.
type ProcessorContext[KOut, VOut any] interface {
	// Forward sends r to every child of the processor.
	Forward(r Record[KOut, VOut]) error
	// ForwardTo sends r to the named child only.
	ForwardTo(child string, r Record[KOut, VOut]) error
	// Schedule calls p every interval of stream time or of wall-clock time until the
	// returned cancel function is called.
	Schedule(interval time.Duration, typ PunctuationType, p Punctuator) (cancel func(), err error)
	// Store returns the state store of that name connected to this processor, to be
	// asserted to its concrete type; GetStore does it typed.
	Store(name string) (any, error)
	// RecordMetadata returns the origin of the record being processed, if it has one.
	RecordMetadata() (RecordMetadata, bool)
	// TaskID returns the task the processor runs in.
	TaskID() TaskID
	// StreamTime returns the task's stream time: the largest timestamp it has processed.
	StreamTime() int64
	// WallClockTime returns the task's wall-clock time in milliseconds (the test driver's
	// mocked clock in tests).
	WallClockTime() int64
	// ApplicationID returns the application ID, the prefix of internal topic names.
	ApplicationID() string
	// LateRecordDropped counts, in the task's TaskMetrics.DroppedLate, a record the
	// processor dropped because it arrived after the window it belonged to had closed,
	// as windowed aggregations and stream-stream joins do.
	LateRecordDropped()
}

// PunctuationType says which clock drives a punctuator.
type PunctuationType int

const (
	// StreamTime punctuators fire as records advance the task's stream time.
	StreamTime PunctuationType = iota
	// WallClockTime punctuators fire as the wall clock advances.
	WallClockTime
)

// Punctuator is called on schedule with the time (stream or wall-clock) it fired at.
type Punctuator func(timestamp int64) error

// TimestampExtractor picks a record's timestamp as it enters a topology from a topic.
// It gets the timestamp the record carried and the partition's time so far, and must not
// return a negative timestamp for a record that should be processed.
type TimestampExtractor func(topic string, partition int32, key, value []byte, recordTimestamp, partitionTime int64) int64
