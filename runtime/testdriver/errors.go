package testdriver

import "errors"

// Sentinel errors callers branch on; returned errors wrap them with detail.
var (
	// ErrNoRecord is returned by the Read methods of an OutputTopic that holds no
	// unread record.
	ErrNoRecord = errors.New("testdriver: no record")
	// ErrUnknownTopic reports an input topic that no source of the topology reads, or
	// an output topic that nothing can write.
	ErrUnknownTopic = errors.New("testdriver: unknown topic")
	// ErrInvalidPartition reports a partition outside a topic's partition count.
	ErrInvalidPartition = errors.New("testdriver: invalid partition")
	// ErrClosed is returned by calls on a closed driver.
	ErrClosed = errors.New("testdriver: closed")
	// ErrFailed is wrapped, with the original error, by every call after a task
	// failed: its state may hold half a record, as in production after a crash.
	ErrFailed = errors.New("testdriver: failed earlier")
)
