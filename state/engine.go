package state

import "errors"

// Errors shared by engines and stores.
var (
	// ErrClosed is returned by calls on a closed engine, store or iterator.
	ErrClosed = errors.New("state: closed")
	// ErrCorrupt reports stored bytes that cannot be decoded.
	ErrCorrupt = errors.New("state: corrupt data")
)

// Engine is an ordered map of bytes holding one store of one task. Keys sort by their
// bytes. Writes are visible to reads at once; Commit makes everything written since the
// previous Commit durable in one step, together with the changelog offsets the state
// reflects, so that after a crash the engine reopens exactly at its last Commit.
type Engine interface {
	// Get returns the value of key; found is false when it has none.
	Get(key []byte) (value []byte, found bool, err error)
	// Put sets key to value. A nil value is stored as an empty value, not a delete.
	Put(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
	// DeletePrefix removes every key that starts with prefix; window stores drop an
	// expired segment with it.
	DeletePrefix(prefix []byte) error
	// Iterate walks keys in [from, to) in key order, or in reverse order when reverse is
	// set. A nil from starts at the first key, a nil to runs to the last. The iterator
	// sees the engine as it was when Iterate was called or later; it must be closed.
	Iterate(from, to []byte, reverse bool) (Iterator, error)
	// ApproximateCount estimates the number of keys.
	ApproximateCount() int64
	// Commit atomically persists every write since the last Commit with offsets, the
	// changelog offsets (topic-partition to next offset) this state reflects.
	Commit(offsets map[string]int64) error
	// CommittedOffsets returns the offsets of the last Commit (empty when none).
	CommittedOffsets() (map[string]int64, error)
	// Close releases the engine; uncommitted writes are discarded.
	Close() error
}

// Iterator walks an Engine's keys. Key and Value are valid until the next call to Next.
type Iterator interface {
	// Next advances to the next key and reports whether there is one.
	Next() bool
	// Key returns the current key.
	Key() []byte
	// Value returns the current value.
	Value() []byte
	// Err returns the error that stopped iteration, if any.
	Err() error
	// Close releases the iterator.
	Close() error
}

// Provider opens the engines of many tasks' stores on one instance and drops a task's
// state cheaply. Names are chosen by the runtime: task IDs such as "0_3" and store names.
type Provider interface {
	// Open returns the engine of store name in task, creating it when missing.
	Open(task, name string) (Engine, error)
	// Drop deletes the state of store name in task; the engine must be closed first.
	Drop(task, name string) error
	// Close closes the provider and every engine it opened.
	Close() error
}

// KV is one record of a bulk restore: a changelog record's key and value.
type KV struct {
	// Key is the record key.
	Key []byte
	// Value is the record value; nil is a changelog tombstone and deletes Key.
	Value []byte
}

// Restorer is implemented by engines that load a changelog faster than one Put at a
// time. The runtime checks for it with a type assertion while restoring a task.
type Restorer interface {
	// Restore applies batch in order, later records winning over earlier ones with the
	// same key, and then commits with offsets, exactly as if each record had been Put (or
	// Deleted, for a nil Value) and Commit(offsets) called: a crash leaves the engine at
	// the previous Commit or at this one.
	Restore(batch []KV, offsets map[string]int64) error
}

// ErrInUse is returned by Provider.Open for a store that is already open and by
// Provider.Drop for one that is not closed yet.
var ErrInUse = errors.New("state: store in use")
