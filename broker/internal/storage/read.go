package storage

import (
	"fmt"
	"sort"
	"sync"
)

// ReadResult is the answer to Read.
type ReadResult struct {
	// Data holds whole record batches, owned by the caller.
	Data []byte
	// HighWatermark and LogStartOffset are the values the read was bounded
	// by, for the fetch response, with the LastStableOffset of that moment.
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Aborted lists, for ReadCommitted, the aborted transactions with
	// records among the returned offsets, sorted by FirstOffset.
	Aborted []AbortedTxn
}

// readHint remembers where the last Read stopped, so that a consumer reading
// on from there skips the index lookup and header scan.
type readHint struct {
	seg    *segment
	offset int64 // base offset of the batch at pos
	pos    int64
}

// Read returns whole batches starting with the one containing offset, at
// most maxBytes in total and never past the high watermark. With minOne, a
// first batch larger than maxBytes is returned alone (KIP-74). offset equal
// to the high watermark yields no data; an offset below the log start or
// above the high watermark is ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return l.read(offset, maxBytes, minOne, false)
}

// ReadCommitted is Read bounded by the last stable offset instead of the high
// watermark; ReadResult gains LastStableOffset (also set by Read) and Aborted (the
// aborted transactions overlapping the returned offsets, sorted by FirstOffset).
// An offset from the last stable offset up to the high watermark yields no
// data and no error.
func (l *Log) ReadCommitted(offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return l.read(offset, maxBytes, minOne, true)
}

func (l *Log) read(offset int64, maxBytes int, minOne, committed bool) (ReadResult, error) {
	if l.closed.Load() {
		return ReadResult{}, ErrClosed
	}
	// hw is loaded before any segment size: sizes only grow and are stored
	// before the high watermark moves, so every batch below hw is inside them.
	hw, stable := l.bounds()
	lso := l.lso.Load()
	res := ReadResult{HighWatermark: hw, LastStableOffset: stable, LogStartOffset: lso}
	if offset < lso || offset > hw {
		return res, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, lso, hw)
	}
	limit := hw
	if committed {
		limit = stable
	}
	if offset >= limit || (maxBytes <= 0 && !minOne) {
		return res, nil
	}
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return ReadResult{}, ErrClosed
	}
	segs := l.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		return res, fmt.Errorf("%w: offset %d was deleted", ErrOffsetOutOfRange, offset)
	}
	for ; i < len(segs); i++ {
		s := segs[i]
		size := s.size.Load()
		pos, found := int64(0), false
		if h := l.hint.Load(); h != nil && h.seg == s && h.offset == offset && h.pos < size {
			pos, found = h.pos, true
		} else {
			var err error
			if pos, found, err = s.find(offset, size); err != nil {
				return res, err
			}
		}
		if !found {
			continue
		}
		data, next, err := readBatches(s, pos, size, limit, maxBytes, minOne)
		if err != nil {
			return res, err
		}
		if len(data) > 0 {
			l.hint.Store(&readHint{seg: s, offset: next, pos: pos + int64(len(data))})
			if committed {
				res.Aborted = collectAborted(segs[i:], offset, next)
			}
		}
		res.Data = data
		return res, nil
	}
	return res, nil
}

// readBatches preads the batches at pos that end within maxBytes and start
// below limit, and returns them with the offset after the last one.
func readBatches(s *segment, pos, size, limit int64, maxBytes int, minOne bool) ([]byte, int64, error) {
	buf := make([]byte, max(min(int64(maxBytes), size-pos), 0))
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return nil, 0, fmt.Errorf("storage: read segment: %w", err)
	}
	p, next := 0, int64(0)
	for len(buf)-p >= headerLen {
		n := batchLen(buf[p:])
		if n < 0 || n > len(buf)-p {
			break
		}
		h := parseHeader(buf[p:])
		if h.baseOffset >= limit {
			break
		}
		p += n
		next = h.lastOffset + 1
	}
	if p > 0 {
		return buf[:p], next, nil
	}
	if !minOne {
		return nil, 0, nil
	}
	// minOne: the first batch alone exceeds maxBytes.
	var hdr [headerLen]byte
	if size-pos < headerLen {
		return nil, 0, nil
	}
	if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
		return nil, 0, fmt.Errorf("storage: read segment: %w", err)
	}
	n := batchLen(hdr[:])
	h := parseHeader(hdr[:])
	if n < 0 || int64(n) > size-pos || h.baseOffset >= limit {
		return nil, 0, nil
	}
	buf = make([]byte, n)
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return nil, 0, fmt.Errorf("storage: read segment: %w", err)
	}
	return buf, h.lastOffset + 1, nil
}

type watcher struct{ ch chan<- struct{} }

// Watch registers ch to receive a non-blocking send whenever the high
// watermark or the last stable offset advances (and when the log closes),
// so one waiter can watch many partitions. Register before checking the
// offsets, or an advance in between is missed. cancel unregisters; it is
// idempotent.
func (l *Log) Watch(ch chan<- struct{}) (cancel func()) {
	w := &watcher{ch: ch}
	l.watchMu.Lock()
	l.watchers = append(l.watchers, w)
	l.nwatch.Add(1)
	l.watchMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.watchMu.Lock()
			defer l.watchMu.Unlock()
			for i, x := range l.watchers {
				if x == w {
					last := len(l.watchers) - 1
					l.watchers[i] = l.watchers[last]
					l.watchers[last] = nil
					l.watchers = l.watchers[:last]
					l.nwatch.Add(-1)
					return
				}
			}
		})
	}
}

func (l *Log) notify() {
	if l.nwatch.Load() == 0 {
		return
	}
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	for _, w := range l.watchers {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
