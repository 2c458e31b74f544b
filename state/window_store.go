package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/eddy-io/eddy/serde"
)

// ErrExpired is returned by a put into a window or session store of a record older than
// the store's retention; the record is dropped, and callers count it.
var ErrExpired = errors.New("state: record older than retention")

// WindowConfig sets a window store's windows and retention, in milliseconds.
type WindowConfig struct {
	// WindowSize is the length of every window; iterators report End = Start + WindowSize.
	WindowSize int64
	// Retention is how long a window is kept after stream time, the largest window start
	// put, passes its start: a window is live while Start > stream time - Retention. The
	// DSL sets it to at least window size + grace.
	Retention int64
	// SegmentInterval is the time span of one segment, the unit in which expired windows
	// are dropped. Zero means max(Retention/2, 60000), as in Kafka Streams.
	SegmentInterval int64
	// RetainDuplicates keeps every put, even of the same key and start, as stream-stream
	// joins need; Delete and Get by exact window then do not apply.
	RetainDuplicates bool
}

// WindowStore is a typed store of windowed values: one value per key and window start
// (or many, with RetainDuplicates). Windows are kept in time segments, and when stream
// time moves past a segment's retention the whole segment is dropped at once.
//
// Its engine key is the segment number (8 bytes, ordered) followed by the
// serde.WindowedKey layout of key and start, and with RetainDuplicates a 4-byte
// sequence number.
type WindowStore[K, V any] struct {
	layers
	keys   serde.Serde[K]
	values serde.Serde[V]
	cfg    WindowConfig
	seg    *segments
	seq    uint32
}

// NewWindowStore returns the window store name over engine, with the layers opts ask
// for. It reads the engine's segments to recover stream time, so build it after the
// engine is restored. The store owns engine from then on.
func NewWindowStore[K, V any](name string, engine Engine, keys serde.Serde[K], values serde.Serde[V], cfg WindowConfig, opts ...Option) (*WindowStore[K, V], error) {
	if cfg.WindowSize <= 0 || cfg.Retention <= 0 || cfg.SegmentInterval < 0 {
		return nil, fmt.Errorf("state: window store %q: window size and retention must be positive, got %d and %d", name, cfg.WindowSize, cfg.Retention)
	}
	if cfg.SegmentInterval == 0 {
		cfg.SegmentInterval = max(cfg.Retention/2, 60_000)
	}
	s := &WindowStore[K, V]{layers: newLayers(name, engine, opts), keys: keys, values: values, cfg: cfg}
	s.seg = newSegments(cfg.SegmentInterval, cfg.Retention)
	startOf := func(key []byte) (int64, error) {
		_, start, err := s.split(key)
		return start, err
	}
	if err := s.seg.load(s.top, startOf); err != nil {
		return nil, s.errorf(err)
	}
	return s, nil
}

// ObservedStreamTime returns the largest window start put (or recovered at open), or
// math.MinInt64 when none.
func (s *WindowStore[K, V]) ObservedStreamTime() int64 { return s.seg.time() }

// Put stores value for key in the window starting at windowStart. It returns ErrExpired,
// storing nothing, when that window is past retention. A value encoded to nil deletes
// the window, as Kafka's null does (it is ignored with RetainDuplicates).
func (s *WindowStore[K, V]) Put(key K, value V, windowStart int64) error {
	kb, err := encodeWindowKey(&s.layers, s.keys, key)
	if err != nil {
		return err
	}
	vb, err := s.values.Encode(value)
	if err != nil {
		return s.encodeErr("value", err)
	}
	if vb == nil && s.cfg.RetainDuplicates {
		return nil
	}
	if err := s.seg.advance(s.top, windowStart); err != nil {
		return s.errorf(err)
	}
	if windowStart < s.seg.minLive() {
		return fmt.Errorf("state: store %q: window start %d: %w", s.name, windowStart, ErrExpired)
	}
	ek := s.engineKey(kb, windowStart)
	if vb == nil {
		return s.errorf(s.top.Delete(ek))
	}
	s.seg.add(s.seg.id(windowStart))
	return s.errorf(s.top.Put(ek, vb))
}

// Delete removes the window of key starting at windowStart. With RetainDuplicates it
// does nothing, since it could not tell the duplicates apart.
func (s *WindowStore[K, V]) Delete(key K, windowStart int64) error {
	if s.cfg.RetainDuplicates {
		return nil
	}
	kb, err := encodeWindowKey(&s.layers, s.keys, key)
	if err != nil {
		return err
	}
	return s.errorf(s.top.Delete(s.engineKey(kb, windowStart)))
}

// Get returns the value of key in the window starting at windowStart (the first one
// put, with RetainDuplicates); found is false when there is none or it has expired.
// Without duplicates it is one point lookup in the engine.
func (s *WindowStore[K, V]) Get(key K, windowStart int64) (value V, found bool, err error) {
	if s.cfg.RetainDuplicates {
		return s.firstDuplicate(key, windowStart)
	}
	kb, err := encodeWindowKey(&s.layers, s.keys, key)
	if err != nil {
		return value, false, err
	}
	if windowStart < s.seg.minLive() {
		return value, false, nil
	}
	vb, found, err := s.top.Get(s.windowKey(kb, windowStart))
	if err != nil || !found {
		return value, false, s.errorf(err)
	}
	if vb == nil {
		vb = []byte{}
	}
	if value, err = s.values.Decode(vb); err != nil {
		return value, false, s.corrupt("value", vb, err)
	}
	return value, true, nil
}

// firstDuplicate is Get with RetainDuplicates, where the window's records differ in
// their sequence numbers: the first in engine order is the first put.
func (s *WindowStore[K, V]) firstDuplicate(key K, windowStart int64) (value V, found bool, err error) {
	it, err := s.Fetch(key, windowStart, windowStart)
	if err != nil {
		return value, false, err
	}
	defer it.Close()
	if it.Next() {
		return it.Value(), true, nil
	}
	return value, false, it.Err()
}

// Fetch returns the live windows of key whose start is in [from, to], in start order.
func (s *WindowStore[K, V]) Fetch(key K, from, to int64) (KeyValueIterator[serde.Windowed[K], V], error) {
	kb, err := encodeWindowKey(&s.layers, s.keys, key)
	if err != nil {
		return nil, err
	}
	from = max(from, s.seg.minLive())
	lo, hi := serde.WindowedKeyRange(kb, from, to)
	return s.scan(from, to, func(id int64) ([]byte, []byte) {
		p := segmentPrefix(id)
		return concat(p, lo), concat(p, hi)
	})
}

// FetchRange returns the live windows of the keys from keyFrom to keyTo (inclusive, in
// encoded byte order) whose start is in [from, to]: segment by segment in time order,
// and within a segment by key, then start.
func (s *WindowStore[K, V]) FetchRange(keyFrom, keyTo K, from, to int64) (KeyValueIterator[serde.Windowed[K], V], error) {
	kFrom, err := encodeWindowKey(&s.layers, s.keys, keyFrom)
	if err != nil {
		return nil, err
	}
	kTo, err := encodeWindowKey(&s.layers, s.keys, keyTo)
	if err != nil {
		return nil, err
	}
	if bytes.Compare(kFrom, kTo) > 0 {
		return s.scan(1, 0, nil)
	}
	lo := serde.WindowedKeyPrefix(kFrom)
	_, hi := serde.WindowedKeyRange(kTo, math.MinInt64, math.MaxInt64)
	return s.scan(max(from, s.seg.minLive()), to, func(id int64) ([]byte, []byte) {
		p := segmentPrefix(id)
		return concat(p, lo), concat(p, hi)
	})
}

// FetchAll returns every live window whose start is in [from, to]: segment by segment
// in time order, and within a segment by key, then start.
func (s *WindowStore[K, V]) FetchAll(from, to int64) (KeyValueIterator[serde.Windowed[K], V], error) {
	return s.scan(max(from, s.seg.minLive()), to, segmentBounds)
}

// scan chains the ranges bounds gives for each live segment that can hold a start in
// [from, to], keeping only windows that start in it.
func (s *WindowStore[K, V]) scan(from, to int64, bounds func(id int64) (lo, hi []byte)) (KeyValueIterator[serde.Windowed[K], V], error) {
	var raw Iterator = emptyIterator{}
	if from <= to {
		ids := s.seg.between(s.seg.id(from), s.seg.id(to))
		raw = &chainIterator{n: len(ids), open: func(i int) (Iterator, error) {
			lo, hi := bounds(ids[i])
			it, err := s.top.Iterate(lo, hi, false)
			return it, s.errorf(err)
		}}
	}
	return newTypedIterator(raw, func(kb, vb []byte) (w serde.Windowed[K], v V, keep bool, err error) {
		key, start, err := s.split(kb)
		if err != nil {
			return w, v, false, s.corrupt("window key", kb, err)
		}
		if start < from || start > to {
			return w, v, false, nil
		}
		if w.Key, err = s.keys.Decode(key); err != nil {
			return w, v, false, s.corrupt("key", key, err)
		}
		w.Start, w.End = start, saturatingAdd(start, s.cfg.WindowSize)
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
func (s *WindowStore[K, V]) SetFlushListener(f FlushListener[serde.Windowed[K], V]) bool {
	decodeKey := func(kb []byte) (serde.Windowed[K], error) {
		var w serde.Windowed[K]
		key, start, err := s.split(kb)
		if err != nil {
			return w, s.corrupt("window key", kb, err)
		}
		if w.Key, err = s.keys.Decode(key); err != nil {
			return w, s.corrupt("key", key, err)
		}
		w.Start, w.End = start, saturatingAdd(start, s.cfg.WindowSize)
		return w, nil
	}
	return setFlushListener(&s.layers, f, decodeKey, s.values)
}

// engineKey lays out segment, windowed key and, with duplicates, a sequence number.
func (s *WindowStore[K, V]) engineKey(kb []byte, start int64) []byte {
	b := s.windowKey(kb, start)
	if s.cfg.RetainDuplicates {
		s.seq++
		b = binary.BigEndian.AppendUint32(b, s.seq)
	}
	return b
}

// windowKey lays out segment and windowed key, with room for a sequence number.
func (s *WindowStore[K, V]) windowKey(kb []byte, start int64) []byte {
	prefix := serde.WindowedKeyPrefix(kb)
	b := make([]byte, 0, segmentPrefixSize+len(prefix)+8+4)
	b = appendOrdered(b, s.seg.id(start))
	b = append(b, prefix...)
	return appendOrdered(b, start)
}

// split returns the encoded key and the window start of an engine key.
func (s *WindowStore[K, V]) split(ek []byte) ([]byte, int64, error) {
	rest, err := stripSegment(ek)
	if err != nil {
		return nil, 0, err
	}
	if s.cfg.RetainDuplicates {
		if len(rest) < 4 {
			return nil, 0, fmt.Errorf("%w: window key without sequence number", ErrCorrupt)
		}
		rest = rest[:len(rest)-4]
	}
	return serde.SplitWindowedKey(rest)
}

// encodeWindowKey encodes a key of a window or session store, which may not be null.
func encodeWindowKey[K any](l *layers, keys serde.Serde[K], key K) ([]byte, error) {
	b, err := keys.Encode(key)
	if err != nil {
		return nil, l.encodeErr("key", err)
	}
	if b == nil {
		return nil, l.encodeErr("key", fmt.Errorf("%w: null key", serde.ErrEncode))
	}
	return b, nil
}

// segmentPrefixSize is the length of the segment number at the head of engine keys.
const segmentPrefixSize = 8

// segmentPrefix returns the engine key prefix of segment id: ordered, so segments sort
// by time, negative ones included.
func segmentPrefix(id int64) []byte { return appendOrdered(make([]byte, 0, segmentPrefixSize), id) }

// segmentBounds returns the engine range of a whole segment.
func segmentBounds(id int64) (lo, hi []byte) {
	lo = segmentPrefix(id)
	if id == math.MaxInt64 {
		return lo, nil
	}
	return lo, segmentPrefix(id + 1)
}

func stripSegment(ek []byte) ([]byte, error) {
	if len(ek) < segmentPrefixSize {
		return nil, fmt.Errorf("%w: key of %d bytes has no segment", ErrCorrupt, len(ek))
	}
	return ek[segmentPrefixSize:], nil
}

// appendOrdered appends v as serde.OrderedInt64 does: big-endian with the sign bit
// flipped, so byte order is numeric order.
func appendOrdered(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

func readOrdered(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

func concat(a, b []byte) []byte { return append(append(make([]byte, 0, len(a)+len(b)), a...), b...) }

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// segments tracks the live segments of a window or session store and its stream time,
// and drops segments as stream time passes their retention.
type segments struct {
	interval, retention int64

	mu         sync.Mutex
	streamTime int64   // math.MinInt64 until the first record
	live       []int64 // sorted segment ids that may hold records
}

func newSegments(interval, retention int64) *segments {
	return &segments{interval: interval, retention: retention, streamTime: math.MinInt64}
}

// id returns the segment of time t, rounding down for negative times too.
func (g *segments) id(t int64) int64 {
	id := t / g.interval
	if t%g.interval < 0 {
		id--
	}
	return id
}

func (g *segments) time() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.streamTime
}

// minLive returns the oldest time still within retention.
func (g *segments) minLive() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.minLiveLocked()
}

func (g *segments) minLiveLocked() int64 {
	if g.streamTime < math.MinInt64+g.retention {
		return math.MinInt64
	}
	return g.streamTime - g.retention + 1
}

// add records that segment id holds records.
func (g *segments) add(id int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i, found := slices.BinarySearch(g.live, id); !found {
		g.live = slices.Insert(g.live, i, id)
	}
}

// between returns the live segments in [lo, hi].
func (g *segments) between(lo, hi int64) []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	i, _ := slices.BinarySearch(g.live, lo)
	j, _ := slices.BinarySearch(g.live, hi+1)
	if hi == math.MaxInt64 {
		j = len(g.live)
	}
	return slices.Clone(g.live[i:j])
}

// advance moves stream time to t if later and drops the segments wholly older than
// retention from e.
func (g *segments) advance(e Engine, t int64) error {
	g.mu.Lock()
	if t > g.streamTime {
		g.streamTime = t
	}
	first := g.id(g.minLiveLocked())
	n, _ := slices.BinarySearch(g.live, first)
	expired := slices.Clone(g.live[:n])
	g.mu.Unlock()
	for _, id := range expired {
		if err := e.DeletePrefix(segmentPrefix(id)); err != nil {
			return fmt.Errorf("drop segment %d: %w", id, err)
		}
		g.mu.Lock()
		if i, found := slices.BinarySearch(g.live, id); found {
			g.live = slices.Delete(g.live, i, i+1)
		}
		g.mu.Unlock()
	}
	return nil
}

// load finds the segments in e, one seek per segment, and recovers stream time as the
// largest time in the last segment, then drops what is past retention.
func (g *segments) load(e Engine, timeOf func(key []byte) (int64, error)) error {
	var from []byte
	for {
		it, err := e.Iterate(from, nil, false)
		if err != nil {
			return err
		}
		ok := it.Next()
		var key []byte
		if ok {
			key = bytes.Clone(it.Key())
		}
		err = it.Err()
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if len(key) < segmentPrefixSize {
			return fmt.Errorf("%w: key %x has no segment", ErrCorrupt, truncated(key))
		}
		id := readOrdered(key)
		g.live = append(g.live, id)
		if id == math.MaxInt64 {
			break
		}
		from = segmentPrefix(id + 1)
	}
	if len(g.live) == 0 {
		return nil
	}
	lo, hi := segmentBounds(g.live[len(g.live)-1])
	it, err := e.Iterate(lo, hi, false)
	if err != nil {
		return err
	}
	for it.Next() {
		t, err := timeOf(it.Key())
		if err != nil {
			it.Close()
			return fmt.Errorf("%w: key %x: %w", ErrCorrupt, truncated(it.Key()), err)
		}
		g.streamTime = max(g.streamTime, t)
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return g.advance(e, g.streamTime)
}
