package state

import (
	"fmt"
	"math"

	"github.com/eddy-io/eddy/serde"
)

// SessionConfig sets a session store's retention, in milliseconds.
type SessionConfig struct {
	// Retention is how long a session is kept after stream time, the largest session
	// end put, passes its end: a session is live while End > stream time - Retention.
	// The DSL sets it to at least inactivity gap + grace.
	Retention int64
	// SegmentInterval is the time span of one segment, by session end. Zero means
	// max(Retention/2, 60000), as in Kafka Streams.
	SegmentInterval int64
}

// SessionStore is a typed store of session windows: one value per key and session
// [Start, End], where End is the time of the session's last record. Sessions are kept
// in segments by their end and dropped a segment at a time as stream time passes.
//
// Its engine key is the segment number of End (8 bytes, ordered) followed by the
// serde.SessionKey layout of key, start and end.
type SessionStore[K, V any] struct {
	layers
	keys   serde.Serde[K]
	values serde.Serde[V]
	seg    *segments
}

// NewSessionStore returns the session store name over engine, with the layers opts ask
// for. It reads the engine's segments to recover stream time, so build it after the
// engine is restored. The store owns engine from then on.
func NewSessionStore[K, V any](name string, engine Engine, keys serde.Serde[K], values serde.Serde[V], cfg SessionConfig, opts ...Option) (*SessionStore[K, V], error) {
	if cfg.Retention <= 0 || cfg.SegmentInterval < 0 {
		return nil, fmt.Errorf("state: session store %q: retention must be positive, got %d", name, cfg.Retention)
	}
	if cfg.SegmentInterval == 0 {
		cfg.SegmentInterval = max(cfg.Retention/2, 60_000)
	}
	s := &SessionStore[K, V]{layers: newLayers(name, engine, opts), keys: keys, values: values}
	s.seg = newSegments(cfg.SegmentInterval, cfg.Retention)
	endOf := func(key []byte) (int64, error) {
		rest, err := stripSegment(key)
		if err != nil {
			return 0, err
		}
		_, _, end, err := serde.SplitSessionKey(rest)
		return end, err
	}
	if err := s.seg.load(s.top, endOf); err != nil {
		return nil, s.errorf(err)
	}
	return s, nil
}

// ObservedStreamTime returns the largest session end put (or recovered at open), or
// math.MinInt64 when none.
func (s *SessionStore[K, V]) ObservedStreamTime() int64 { return s.seg.time() }

// Put stores value for the session. It returns ErrExpired, storing nothing, when the
// session ended before retention. A value encoded to nil removes the session.
func (s *SessionStore[K, V]) Put(session serde.Windowed[K], value V) error {
	kb, err := encodeWindowKey(&s.layers, s.keys, session.Key)
	if err != nil {
		return err
	}
	if session.End < session.Start {
		return fmt.Errorf("state: store %q: session ends at %d before its start %d", s.name, session.End, session.Start)
	}
	vb, err := s.values.Encode(value)
	if err != nil {
		return s.encodeErr("value", err)
	}
	if err := s.seg.advance(s.top, session.End); err != nil {
		return s.errorf(err)
	}
	if session.End < s.seg.minLive() {
		return fmt.Errorf("state: store %q: session end %d: %w", s.name, session.End, ErrExpired)
	}
	ek := s.engineKey(kb, session.Start, session.End)
	if vb == nil {
		return s.errorf(s.top.Delete(ek))
	}
	s.seg.add(s.seg.id(session.End))
	return s.errorf(s.top.Put(ek, vb))
}

// Remove deletes the session; removing a missing one is not an error.
func (s *SessionStore[K, V]) Remove(session serde.Windowed[K]) error {
	kb, err := encodeWindowKey(&s.layers, s.keys, session.Key)
	if err != nil {
		return err
	}
	return s.errorf(s.top.Delete(s.engineKey(kb, session.Start, session.End)))
}

// FetchSession returns the value of key's session [start, end]; found is false when
// there is none or it has expired.
func (s *SessionStore[K, V]) FetchSession(key K, start, end int64) (value V, found bool, err error) {
	kb, err := encodeWindowKey(&s.layers, s.keys, key)
	if err != nil {
		return value, false, err
	}
	if end < s.seg.minLive() {
		return value, false, nil
	}
	ek := s.engineKey(kb, start, end)
	b, found, err := s.top.Get(ek)
	if err != nil || !found {
		return value, false, s.errorf(err)
	}
	if b == nil {
		b = []byte{}
	}
	if value, err = s.values.Decode(b); err != nil {
		return value, false, s.corrupt("value", b, err)
	}
	return value, true, nil
}

// FindSessions returns key's live sessions that end at or after earliestSessionEnd and
// start at or before latestSessionStart, Kafka Streams' rule: a record at time t with
// inactivity gap g merges with the sessions FindSessions(key, t-g, t+g) returns. They
// come in order of end (and, since one key's sessions do not overlap, of start).
func (s *SessionStore[K, V]) FindSessions(key K, earliestSessionEnd, latestSessionStart int64) (KeyValueIterator[serde.Windowed[K], V], error) {
	kb, err := encodeWindowKey(&s.layers, s.keys, key)
	if err != nil {
		return nil, err
	}
	earliestSessionEnd = max(earliestSessionEnd, s.seg.minLive())
	lo, hi := serde.WindowedKeyRange(kb, math.MinInt64, latestSessionStart)
	ids := s.seg.between(s.seg.id(earliestSessionEnd), math.MaxInt64)
	raw := &chainIterator{n: len(ids), open: func(i int) (Iterator, error) {
		p := segmentPrefix(ids[i])
		it, err := s.top.Iterate(concat(p, lo), concat(p, hi), false)
		return it, s.errorf(err)
	}}
	return newTypedIterator(raw, func(ek, vb []byte) (w serde.Windowed[K], v V, keep bool, err error) {
		if w, err = s.decodeKey(ek); err != nil {
			return w, v, false, err
		}
		if w.End < earliestSessionEnd || w.Start > latestSessionStart {
			return w, v, false, nil
		}
		if vb == nil {
			vb = []byte{}
		}
		if v, err = s.values.Decode(vb); err != nil {
			return w, v, false, s.corrupt("value", vb, err)
		}
		return w, v, true, nil
	}), nil
}

// SetFlushListener sets the callback of the records the cache passes down and reports
// whether the store has a cache.
func (s *SessionStore[K, V]) SetFlushListener(f FlushListener[serde.Windowed[K], V]) bool {
	return setFlushListener(&s.layers, f, s.decodeKey, s.values)
}

func (s *SessionStore[K, V]) engineKey(kb []byte, start, end int64) []byte {
	prefix := serde.WindowedKeyPrefix(kb)
	b := make([]byte, 0, segmentPrefixSize+len(prefix)+16)
	b = append(b, segmentPrefix(s.seg.id(end))...)
	b = append(b, prefix...)
	b = appendOrdered(b, start)
	return appendOrdered(b, end)
}

func (s *SessionStore[K, V]) decodeKey(ek []byte) (serde.Windowed[K], error) {
	var w serde.Windowed[K]
	rest, err := stripSegment(ek)
	if err != nil {
		return w, s.corrupt("session key", ek, err)
	}
	key, start, end, err := serde.SplitSessionKey(rest)
	if err != nil {
		return w, s.corrupt("session key", ek, err)
	}
	if w.Key, err = s.keys.Decode(key); err != nil {
		return w, s.corrupt("key", key, err)
	}
	w.Start, w.End = start, end
	return w, nil
}
