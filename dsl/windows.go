package dsl

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidWindows is wrapped by the Build error of a windowed operator given windows
// that cannot work: a size, advance, time difference or gap under one millisecond, an
// advance larger than the size, a negative grace, or a retention shorter than the
// windows need.
var ErrInvalidWindows = errors.New("dsl: invalid windows")

// Windows are the time-based windows a grouped stream can be windowed by: TimeWindows
// (tumbling and hopping) and SlidingWindows. Session windows, which merge, are separate
// (see GroupedStream.SessionWindowedBy).
type Windows interface {
	// spec returns the windows in milliseconds, or an error when they cannot work.
	spec() (windowSpec, error)
}

// windowSpec is a Windows in milliseconds. sliding marks SlidingWindows, whose size
// is the time difference.
type windowSpec struct {
	size, advance, grace int64
	sliding              bool
}

// TimeWindows are fixed-size windows aligned to the epoch: a window starts at every
// multiple of the advance and covers [start, start+size). With advance = size they are
// tumbling (each record in exactly one window), with a smaller advance hopping (each
// record in size/advance windows). Kafka Streams' TimeWindows.
//
// Grace is how long, in stream time, a window keeps accepting records after its end:
// a record for a window whose end + grace is at or before stream time is late, and is
// dropped from that window. TimeWindowsOf sets no grace, as Kafka Streams'
// ofSizeWithNoGrace.
type TimeWindows struct {
	size, advance, grace time.Duration
}

// TimeWindowsOf returns tumbling windows of the given size and no grace.
func TimeWindowsOf(size time.Duration) TimeWindows {
	return TimeWindows{size: size, advance: size}
}

// AdvanceBy returns the windows hopping by d: one starts every d. d must be positive and
// at most the size.
func (w TimeWindows) AdvanceBy(d time.Duration) TimeWindows {
	w.advance = d
	return w
}

// Grace returns the windows accepting out-of-order records for d after their end.
func (w TimeWindows) Grace(d time.Duration) TimeWindows {
	w.grace = d
	return w
}

func (w TimeWindows) spec() (windowSpec, error) {
	s := windowSpec{size: w.size.Milliseconds(), advance: w.advance.Milliseconds(), grace: w.grace.Milliseconds()}
	switch {
	case s.size <= 0:
		return s, fmt.Errorf("%w: time windows of size %v: at least 1ms", ErrInvalidWindows, w.size)
	case s.advance <= 0 || s.advance > s.size:
		return s, fmt.Errorf("%w: time windows advancing by %v: positive and at most the size %v", ErrInvalidWindows, w.advance, w.size)
	case w.grace < 0:
		return s, fmt.Errorf("%w: negative grace %v", ErrInvalidWindows, w.grace)
	}
	return s, nil
}

// SlidingWindows are the windows of KIP-450: a window of a key covers
// [start, start+timeDifference], both ends included, and exists only where it holds
// records. Each record creates its left window, [t-timeDifference, t], and, when the
// key has records after it within the time difference, its right window
// [t+1, t+1+timeDifference]; so every distinct set of records within the time
// difference of one another is aggregated exactly once. Kafka Streams' SlidingWindows.
//
// Grace works as for TimeWindows: a window whose end + grace is at or before stream
// time takes no more records.
type SlidingWindows struct {
	diff, grace time.Duration
}

// SlidingWindowsOf returns sliding windows of the given maximum time difference and no
// grace.
func SlidingWindowsOf(timeDifference time.Duration) SlidingWindows {
	return SlidingWindows{diff: timeDifference}
}

// Grace returns the windows accepting out-of-order records for d after their end.
func (w SlidingWindows) Grace(d time.Duration) SlidingWindows {
	w.grace = d
	return w
}

func (w SlidingWindows) spec() (windowSpec, error) {
	s := windowSpec{size: w.diff.Milliseconds(), grace: w.grace.Milliseconds(), sliding: true}
	switch {
	case s.size <= 0:
		return s, fmt.Errorf("%w: sliding windows of time difference %v: at least 1ms", ErrInvalidWindows, w.diff)
	case w.grace < 0:
		return s, fmt.Errorf("%w: negative grace %v", ErrInvalidWindows, w.grace)
	}
	return s, nil
}

// SessionWindows group a key's records into sessions of activity: a record within the
// inactivity gap of a session joins it, and a record within the gap of two sessions
// merges them into one. A session's window is [first record, last record], both
// included. Kafka Streams' SessionWindows.
//
// A session closes when stream time passes its end + gap + grace: a record that would
// only join or create sessions closed by then is late and dropped.
type SessionWindows struct {
	gap, grace time.Duration
}

// SessionWindowsOf returns session windows of the given inactivity gap and no grace.
func SessionWindowsOf(inactivityGap time.Duration) SessionWindows {
	return SessionWindows{gap: inactivityGap}
}

// Grace returns the windows accepting out-of-order records for d after a session
// closes.
func (w SessionWindows) Grace(d time.Duration) SessionWindows {
	w.grace = d
	return w
}

func (w SessionWindows) spec() (gap, grace int64, err error) {
	gap, grace = w.gap.Milliseconds(), w.grace.Milliseconds()
	switch {
	case gap <= 0:
		return gap, grace, fmt.Errorf("%w: session windows of gap %v: at least 1ms", ErrInvalidWindows, w.gap)
	case w.grace < 0:
		return gap, grace, fmt.Errorf("%w: negative grace %v", ErrInvalidWindows, w.grace)
	}
	return gap, grace, nil
}

// windowsFor returns the starts of the time windows holding a record at ts, in order,
// as Kafka Streams' TimeWindows.windowsFor: none starts before the epoch.
func (s windowSpec) windowsFor(ts int64) []int64 {
	start := max(0, ts-s.size+s.advance) / s.advance * s.advance
	var starts []int64
	for ; start <= ts; start += s.advance {
		starts = append(starts, start)
	}
	return starts
}
