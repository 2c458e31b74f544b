package runtime

import "errors"

// Sentinel errors callers branch on; the errors returned wrap them with detail.
var (
	// ErrInvalidTopology reports a topology that cannot run: a duplicate or unknown
	// name, mismatched types between a parent and a child, a store no processor uses.
	ErrInvalidTopology = errors.New("runtime: invalid topology")
	// ErrUnknownStore reports a store that does not exist or is not connected to the
	// processor asking for it.
	ErrUnknownStore = errors.New("runtime: unknown state store")
	// ErrUnknownNode reports a child name given to ForwardTo that is not a child.
	ErrUnknownNode = errors.New("runtime: unknown node")
	// ErrTaskClosed is returned by calls on a closed task.
	ErrTaskClosed = errors.New("runtime: task closed")
	// ErrUnknownPartition reports a record for a partition the task does not own.
	ErrUnknownPartition = errors.New("runtime: partition not assigned to task")
	// ErrDeserialization is wrapped by the error of a record whose key or value the
	// source's serdes could not decode.
	ErrDeserialization = errors.New("runtime: deserialization failed")
	// ErrProcessing is wrapped by the error of a record or punctuation a processor
	// failed, when the processing error handler says fail.
	ErrProcessing = errors.New("runtime: processing failed")
)
