package dsl

import (
	"fmt"
	"time"

	"github.com/eddy-io/eddy/serde"
)

// JoinWindows says which records of two streams join: a record of the left stream at
// time t joins the right stream's records of the same key whose timestamps lie in
// [t - before, t + after], both ends included (Kafka Streams' JoinWindows). Grace is how
// long, in stream time, a window stays open for out-of-order records after its end.
// The zero value joins only records of equal timestamps, with no grace.
type JoinWindows struct {
	before, after, grace time.Duration
}

// JoinWindowsOf returns windows joining records at most d apart either way, with no
// grace: Kafka Streams' JoinWindows.ofTimeDifferenceWithNoGrace.
func JoinWindowsOf(d time.Duration) JoinWindows { return JoinWindows{before: d, after: d} }

// Grace returns w with grace g: a record is still accepted, and a left or outer result
// without a match is still held back, until stream time passes its window's end by g.
func (w JoinWindows) Grace(g time.Duration) JoinWindows { w.grace = g; return w }

// Before returns w where a left record at t joins right records from t - d on.
func (w JoinWindows) Before(d time.Duration) JoinWindows { w.before = d; return w }

// After returns w where a left record at t joins right records up to t + d.
func (w JoinWindows) After(d time.Duration) JoinWindows { w.after = d; return w }

// millis returns before, after and grace in milliseconds, or an error for a negative
// one. Kafka Streams accepts a negative before or after when their sum is not
// negative; we keep windows that contain the record's own time.
func (w JoinWindows) millis() (before, after, grace int64, err error) {
	before, after, grace = w.before.Milliseconds(), w.after.Milliseconds(), w.grace.Milliseconds()
	if before < 0 || after < 0 || grace < 0 {
		return 0, 0, 0, fmt.Errorf("%w: join windows: before %v, after %v and grace %v must not be negative", ErrInvalidOption, w.before, w.after, w.grace)
	}
	return before, after, grace, nil
}

// StreamJoined says how a stream-stream join keeps its records (Kafka Streams'
// StreamJoined). Each side's records are kept in a window store for as long as they can
// join; a left or outer join also keeps the records still without a match in a third
// store until their window closes.
type StreamJoined[K, V, VO any] struct {
	// Name names the join's processors: "<Name>-this-join", "<Name>-other-join" and
	// "<Name>-merge", and the repartition topics a rekeyed input needs,
	// "<app-id>-<Name>-left-repartition" and "<app-id>-<Name>-right-repartition". As
	// everywhere in eddy (and unlike Kafka Streams' StreamJoined.withName), it never
	// names a store.
	Name string
	// StoreName names the stores "<StoreName>-this-join-store",
	// "<StoreName>-other-join-store" and "<StoreName>-outer-shared-join-store", and so
	// their changelogs. Empty generates "KSTREAM-JOINTHIS-STATE-STORE-<n>",
	// "KSTREAM-JOINOTHER-STATE-STORE-<n>" and "KSTREAM-OUTERSHARED-STATE-STORE-<n>".
	StoreName string
	// Keys, Values and OtherValues encode the stores' records and the repartition
	// topics'; nil takes the serdes known upstream.
	Keys        serde.Serde[K]
	Values      serde.Serde[V]
	OtherValues serde.Serde[VO]
	// InMemory keeps the stores in memory instead of Badger on disk.
	InMemory bool
	// LoggingDisabled turns the stores' changelogs off.
	LoggingDisabled bool
}

// Joined says how a stream-table join reads its stream side (Kafka Streams' Joined).
type Joined[K, V any] struct {
	// Name names the join processor and, when the stream's keys changed upstream, the
	// repartition topic "<app-id>-<Name>-repartition"; without it the topic is named
	// "<app-id>-KSTREAM-JOIN-REPARTITION-<n>-repartition", numbered per kind.
	Name string
	// Keys and Values encode the repartition topic's records; nil takes the stream's
	// serdes.
	Keys   serde.Serde[K]
	Values serde.Serde[V]
}
