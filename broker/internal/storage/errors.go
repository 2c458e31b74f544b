package storage

import "errors"

// Sentinel errors callers branch on. Errors returned by this package wrap them
// with %w, so test with errors.Is.
var (
	// ErrClosed is returned by every method of a Log after Close or Remove.
	ErrClosed = errors.New("storage: log closed")
	// ErrOffsetOutOfRange is returned when an offset is below the log start
	// offset or above the high watermark.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrCorruptBatch is returned for a record batch with a bad length, a magic
	// other than 2, a CRC-32C mismatch, or a truncated body.
	ErrCorruptBatch = errors.New("storage: corrupt record batch")
	// ErrDuplicateSequence is returned by Append, together with the AppendInfo
	// of the original batch, when an idempotent producer retries one of its
	// last five batches. The batch is not written again.
	ErrDuplicateSequence = errors.New("storage: duplicate sequence number")
	// ErrOutOfOrderSequence is returned when a producer's sequence skips ahead,
	// goes back beyond its last five batches, or a new epoch does not start
	// at sequence 0.
	ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")
	// ErrInvalidProducerEpoch is returned for a batch whose producer epoch is
	// older than the newest epoch this partition has seen for that producer.
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	// ErrUnknownProducerID is returned when a producer this partition has no
	// state for (never seen, or its batches were all deleted by retention)
	// sends a batch whose sequence is not 0. Clients answer it by resetting
	// their sequence numbers, which is what a producer whose history was
	// deleted needs.
	ErrUnknownProducerID = errors.New("storage: unknown producer id")
	// ErrInvalidConfig is wrapped by ParseFsyncPolicy for an unknown policy.
	ErrInvalidConfig = errors.New("storage: invalid config")
)
