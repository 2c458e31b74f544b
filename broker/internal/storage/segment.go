package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

const (
	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
	extSnapshot  = ".snapshot"
	extTxnIndex  = ".txnindex"
)

// segment is one log file holding the batches from base on, with its
// sparse index kept in memory.
type segment struct {
	dir  string
	base int64
	f    *os.File
	fd   int // f's descriptor, used by the appender for pwritev

	// size is the number of valid bytes. Only the appender (under Log.mu)
	// stores it, after the bytes are written, so a reader that loads it sees
	// whole batches below it.
	size atomic.Int64
	// maxTs is the newest record timestamp in the segment, -1 when empty.
	maxTs atomic.Int64

	idxMu sync.RWMutex
	idx   []indexEntry

	// aborted is the segment's aborted transaction index: one entry per
	// ABORT marker in it, in offset order. Appended to under Log.mu.
	txnMu   sync.RWMutex
	aborted []abortedEntry

	// Appender state, guarded by Log.mu.
	next       int64 // offset after the last batch
	sinceIndex int   // bytes appended since the last index entry
	rollAtMs   int64 // when SegmentAge starts counting, ms; 0 until the first batch
}

func segmentName(base int64, ext string) string {
	return fmt.Sprintf("%020d%s", base, ext)
}

func (s *segment) path(ext string) string { return filepath.Join(s.dir, segmentName(s.base, ext)) }

// parseBase returns the base offset encoded in a segment-style file name.
func parseBase(name, ext string) (int64, bool) {
	if len(name) != 20+len(ext) || name[20:] != ext {
		return 0, false
	}
	n, err := strconv.ParseInt(name[:20], 10, 64)
	return n, err == nil && n >= 0
}

func openSegment(dir string, base int64, create bool) (*segment, error) {
	s := &segment{dir: dir, base: base, next: base}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(s.path(extLog), flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: stat segment: %w", err)
	}
	s.f = f
	s.size.Store(st.Size())
	s.maxTs.Store(-1)
	return s, nil
}

// rel converts an absolute offset in this segment to an index offset.
func (s *segment) rel(offset int64) uint32 {
	d := offset - s.base
	if d < 0 {
		return 0
	}
	if d > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(d)
}

// addIndex records a batch at pos if enough bytes passed since the last entry.
// Kafka's rule: the first batch is never indexed, it is at position 0 anyway.
func (s *segment) addIndex(h *batchHeader, pos int64, n int, interval int) {
	if s.sinceIndex >= interval {
		s.idxMu.Lock()
		s.idx = append(s.idx, indexEntry{rel: uint32(h.baseOffset - s.base), pos: uint32(pos), maxTs: s.maxTs.Load()})
		s.idxMu.Unlock()
		s.sinceIndex = 0
	}
	s.sinceIndex += n
	if h.maxTimestamp > s.maxTs.Load() {
		s.maxTs.Store(h.maxTimestamp)
	}
	s.next = h.lastOffset + 1
}

func (s *segment) lookupOffset(offset int64) int64 {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	return lookupOffset(s.idx, s.rel(offset))
}

func (s *segment) lookupTime(ts int64) int64 {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	return lookupTime(s.idx, ts)
}

// find returns the position of the batch containing offset, scanning
// headers forward from the index hint, and false if the segment's first
// limit bytes hold no such batch.
func (s *segment) find(offset int64, limit int64) (int64, bool, error) {
	it := batchReader{r: s.f, pos: s.lookupOffset(offset), end: limit}
	for {
		pos, b, ok := it.next(false)
		if !ok {
			return 0, false, it.err
		}
		if parseHeader(b).lastOffset >= offset {
			return pos, true, nil
		}
	}
}

func (s *segment) sync() error {
	if err := s.f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("storage: fsync segment: %w", err)
	}
	return nil
}

func (s *segment) close() error { return s.f.Close() }

// remove closes and deletes the segment's files.
func (s *segment) remove() error {
	s.f.Close()
	var errs []error
	for _, ext := range []string{extLog, extIndex, extTimeIndex, extTxnIndex} {
		if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: delete segment: %w", err)
	}
	return nil
}

// readChunk is how much batchReader reads at a time: a few index intervals,
// so that a lookup usually costs one pread.
const readChunk = 64 << 10

// batchReader walks the batches of a file between pos and end through a
// reusable window, reading a chunk per pread.
type batchReader struct {
	r        io.ReaderAt
	pos, end int64
	buf      []byte
	bufPos   int64
	// torn is set when the walk stopped before end at bytes that are not a
	// whole batch (a short or impossible length); err on an I/O error.
	torn bool
	err  error
}

// window returns n bytes at pos, reading a fresh chunk when the current one
// does not hold them.
func (it *batchReader) window(pos int64, n int) []byte {
	if pos >= it.bufPos && pos+int64(n) <= it.bufPos+int64(len(it.buf)) {
		return it.buf[pos-it.bufPos:][:n]
	}
	want := int64(max(n, readChunk))
	want = min(want, it.end-pos)
	if cap(it.buf) < int(want) {
		it.buf = make([]byte, want)
	}
	it.buf = it.buf[:want]
	got, err := it.r.ReadAt(it.buf, pos)
	it.buf, it.bufPos = it.buf[:got], pos
	if got < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		it.err = fmt.Errorf("storage: read segment: %w", err)
		return nil
	}
	return it.buf[:n]
}

// next returns the next batch and its position: the whole batch when whole,
// else at least its header. It returns false at end, on a torn batch and on
// an I/O error. The bytes are valid until the next call.
func (it *batchReader) next(whole bool) (int64, []byte, bool) {
	if it.err != nil || it.pos >= it.end {
		return 0, nil, false
	}
	if it.end-it.pos < headerLen {
		it.torn = true
		return 0, nil, false
	}
	h := it.window(it.pos, headerLen)
	if h == nil {
		return 0, nil, false
	}
	n := batchLen(h)
	if n < 0 || int64(n) > it.end-it.pos {
		it.torn = true
		return 0, nil, false
	}
	b := h
	if whole {
		if b = it.window(it.pos, n); b == nil {
			return 0, nil, false
		}
	}
	pos := it.pos
	it.pos += int64(n)
	return pos, b, true
}
