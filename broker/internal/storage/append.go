package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"golang.org/x/sys/unix"
)

// AppendOptions are per-append settings decided by the broker.
type AppendOptions struct {
	// LogAppendTime, in ms, when > 0 stamps the batch as LogAppendTime:
	// attributes bit 3 set, max timestamp set to it, CRC recomputed.
	LogAppendTime int64
}

// AppendInfo describes where a batch went.
type AppendInfo struct {
	// BaseOffset and LastOffset are the offsets of the batch's first and
	// last record.
	BaseOffset, LastOffset int64
	// LogAppendTime is the stamped time, -1 when the batch keeps CreateTime.
	LogAppendTime  int64
	LogStartOffset int64
}

// Append writes one record batch, as the client sent it apart from its base
// offset (set to the log end) and the LogAppendTime stamp. The batch must have
// passed SplitBatches, which checks the CRC; Append only rechecks the framing.
// The caller's slice is neither modified nor retained.
//
// For an idempotent producer (producer ID >= 0) Kafka's sequence rules apply
// first; a retry of one of its last five batches returns ErrDuplicateSequence
// with the original batch's AppendInfo and writes nothing.
//
// A transactional batch (attributes bit 4) starts its producer's
// transaction in this partition when none is ongoing; a COMMIT or ABORT
// control batch ends it, as AppendMarker does.
//
// On return the data is in the page cache: readers see it at once unless the
// policy is FsyncAlways, where it becomes visible after an fsync (WaitDurable).
func (l *Log) Append(batch []byte, opts AppendOptions) (AppendInfo, error) {
	if len(batch) < headerLen || batchLen(batch) != len(batch) || batch[offMagic] != 2 {
		return AppendInfo{}, fmt.Errorf("%w: bad framing", ErrCorruptBatch)
	}
	delta := int32(binary.BigEndian.Uint32(batch[offLastOffsetDelta:]))
	if delta < 0 || int32(binary.BigEndian.Uint32(batch[offNumRecords:])) != delta+1 {
		return AppendInfo{}, fmt.Errorf("%w: record count does not match last offset delta", ErrCorruptBatch)
	}
	h := parseHeader(batch)
	var m marker
	if h.attributes&attrControl != 0 {
		var err error
		if m, err = parseMarker(batch); err != nil {
			return AppendInfo{}, err
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return AppendInfo{}, ErrClosed
	}
	return l.appendLocked(batch, &h, delta, opts, m)
}

// appendLocked appends the checked batch whose header is h; m is what a
// control batch says.
func (l *Log) appendLocked(batch []byte, h *batchHeader, delta int32, opts AppendOptions, m marker) (AppendInfo, error) {
	if h.producerID >= 0 {
		if m, err := l.producers.check(h); err != nil {
			if errors.Is(err, ErrDuplicateSequence) {
				return AppendInfo{BaseOffset: m.baseOffset, LastOffset: m.lastOffset, LogAppendTime: m.appendTime, LogStartOffset: l.lso.Load()}, err
			}
			return AppendInfo{}, err
		}
	}
	cfg := l.cfg.Load()
	s := l.active
	pos := s.size.Load()
	if pos > 0 && l.shouldRoll(s, cfg, pos, len(batch), delta) {
		if err := l.rollLocked(); err != nil {
			return AppendInfo{}, err
		}
		s, pos = l.active, 0
	}

	base := l.nextOff
	hdr := l.hdr[:]
	copy(hdr, batch[:headerLen])
	binary.BigEndian.PutUint64(hdr[offBaseOffset:], uint64(base))
	appendTime := int64(-1)
	if opts.LogAppendTime > 0 {
		appendTime = opts.LogAppendTime
		binary.BigEndian.PutUint16(hdr[offAttributes:], uint16(h.attributes|attrLogAppendTime))
		binary.BigEndian.PutUint64(hdr[offMaxTimestamp:], uint64(appendTime))
		crc := crc32.Update(crc32.Checksum(hdr[offAttributes:], crcTable), crcTable, batch[headerLen:])
		binary.BigEndian.PutUint32(hdr[offCRC:], crc)
		h.attributes |= attrLogAppendTime
		h.maxTimestamp = appendTime
	}
	if err := l.writeLocked(s, hdr, batch[headerLen:], pos); err != nil {
		return AppendInfo{}, err
	}

	h.baseOffset, h.lastOffset = base, base+int64(delta)
	if s.rollAtMs == 0 {
		s.rollAtMs = l.now().UnixMilli()
	}
	s.addIndex(h, pos, len(batch), cfg.indexInterval())
	s.size.Store(pos + int64(len(batch)))
	l.nextOff = h.lastOffset + 1
	l.end.Store(l.nextOff)
	if h.producerID >= 0 {
		l.producers.update(h, appendTime)
		if h.attributes&(attrTransactional|attrControl) != 0 {
			l.trackTxnLocked(h, m, s)
			l.publishTxnLocked()
		}
	}
	if l.opts.Fsync != FsyncAlways {
		l.hw.Store(l.nextOff)
		l.notify()
	}
	return AppendInfo{BaseOffset: base, LastOffset: h.lastOffset, LogAppendTime: appendTime, LogStartOffset: l.lso.Load()}, nil
}

// shouldRoll reports whether the non-empty segment s must be closed before
// a batch of n bytes whose last offset delta is delta is appended.
func (l *Log) shouldRoll(s *segment, cfg *Config, size int64, n int, delta int32) bool {
	if size+int64(n) > cfg.segmentBytes() {
		return true
	}
	// Relative offsets must fit the index's 32 bits; Kafka rolls at int32.
	if l.nextOff+int64(delta)-s.base > math.MaxInt32 {
		return true
	}
	return cfg.SegmentAge > 0 && l.now().UnixMilli()-s.rollAtMs >= cfg.SegmentAge.Milliseconds()
}

// writeLocked writes the rewritten header and the rest of the batch at pos
// with one pwritev. On failure it cuts the segment back to pos so that no
// partial batch stays behind.
func (l *Log) writeLocked(s *segment, hdr, body []byte, pos int64) error {
	l.iov[0], l.iov[1] = hdr, body
	n, err := unix.Pwritev(s.fd, l.iov[:], pos)
	l.iov[0], l.iov[1] = nil, nil
	total := len(hdr) + len(body)
	if err == nil && n < total {
		// A short write (disk nearly full) gets one plain retry of the rest.
		if n < len(hdr) {
			_, err = s.f.WriteAt(hdr[n:], pos+int64(n))
			n = len(hdr)
		}
		if err == nil {
			_, err = s.f.WriteAt(body[n-len(hdr):], pos+int64(n))
		}
	}
	if err != nil {
		if terr := s.f.Truncate(pos); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("storage: append: %w", err)
	}
	return nil
}

// rollLocked closes the active segment (writing its indexes and a producer
// snapshot) and starts a new one at the end offset. The snapshot follows
// the switch, so that it carries the new segment's (empty) aborted index.
func (l *Log) rollLocked() error {
	old := l.active
	if err := writeIndexes(old, old.rel(l.nextOff)); err != nil {
		return err
	}
	if err := writeTxnIndex(old, l.nextOff); err != nil {
		return err
	}
	s, err := openSegment(l.dir, l.nextOff, true)
	if err != nil {
		return err
	}
	s.fd = int(s.f.Fd())
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	l.segMu.Unlock()
	l.active = s
	if err := l.writeSnapshotLocked(); err != nil {
		l.logger.Warn("producer snapshot on roll failed", "err", err)
	}
	l.dirty = append(l.dirty, old)
	l.dirDirty = true
	if l.opts.Fsync == FsyncOS {
		// The closed segment is fsynced off the append path, so that a
		// power loss can only tear the active segment, which Open repairs.
		l.bg.Add(1)
		go func() {
			defer l.bg.Done()
			if _, err := l.syncData(); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Warn("fsync after roll failed", "err", err)
			}
		}()
	}
	return nil
}
