package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// load opens the segments of l.dir and brings the log to a consistent state.
func (l *Log) load() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: read log dir: %w", err)
	}
	var bases, snaps []int64
	indexFiles := map[int64][]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(l.dir, name))
			continue
		}
		if b, ok := parseBase(name, extLog); ok {
			bases = append(bases, b)
		} else if b, ok := parseBase(name, extSnapshot); ok {
			snaps = append(snaps, b)
		} else if b, ok := parseBase(name, extIndex); ok {
			indexFiles[b] = append(indexFiles[b], name)
		} else if b, ok := parseBase(name, extTimeIndex); ok {
			indexFiles[b] = append(indexFiles[b], name)
		} else if b, ok := parseBase(name, extTxnIndex); ok {
			indexFiles[b] = append(indexFiles[b], name)
		}
	}
	slices.Sort(bases)
	slices.Sort(snaps)
	for b, names := range indexFiles {
		if _, ok := slices.BinarySearch(bases, b); !ok {
			for _, n := range names {
				os.Remove(filepath.Join(l.dir, n))
			}
		}
	}

	persistedStart, err := readLogStart(l.dir)
	if err != nil {
		// Falling back to the first segment only re-exposes records that
		// DeleteRecordsBefore hid; refusing to open would lose them all.
		l.logger.Warn("ignoring log start offset", "err", err)
		persistedStart = 0
	}
	if len(bases) == 0 {
		s, err := openSegment(l.dir, persistedStart, true)
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		// Make the new segment, and the directory itself, survive a crash.
		if err := errors.Join(syncDir(l.dir), syncDir(filepath.Dir(l.dir))); err != nil {
			return err
		}
	}
	var badTxn []*segment
	for i, b := range bases {
		s, err := openSegment(l.dir, b, false)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		if i < len(bases)-1 {
			s.next = bases[i+1]
			l.loadIndexes(s)
			if !l.loadTxnIndex(s) {
				badTxn = append(badTxn, s)
			}
		}
	}
	l.active = l.segs[len(l.segs)-1]
	l.active.fd = int(l.active.f.Fd())
	if err := l.recoverActive(); err != nil {
		return err
	}
	l.nextOff = l.active.next
	l.end.Store(l.nextOff)
	l.hw.Store(l.nextOff)
	l.durable.Store(l.nextOff)
	l.lso.Store(min(max(persistedStart, l.segs[0].base), l.nextOff))
	if err := l.loadProducers(snaps); err != nil {
		return err
	}
	return l.rebuildTxnIndexes(badTxn)
}

// loadIndexes reads a closed segment's index files, or rebuilds them from
// the segment when they are missing or do not match it.
func (l *Log) loadIndexes(s *segment) {
	endRel := s.rel(s.next)
	offs, err1 := os.ReadFile(s.path(extIndex))
	times, err2 := os.ReadFile(s.path(extTimeIndex))
	err := errors.Join(err1, err2)
	if err == nil {
		var idx []indexEntry
		var maxTs int64
		idx, maxTs, err = decodeIndexes(offs, times, s.size.Load(), endRel)
		if err == nil && len(idx) > 0 {
			err = checkIndexed(s, idx[len(idx)-1])
		}
		if err == nil {
			s.idx = idx
			s.maxTs.Store(maxTs)
			return
		}
	}
	l.logger.Warn("rebuilding segment indexes", "segment", s.path(extLog), "reason", err)
	it := batchReader{r: s.f, end: s.size.Load()}
	interval := l.cfg.Load().indexInterval()
	for {
		pos, b, ok := it.next(false)
		if !ok {
			break
		}
		h := parseHeader(b)
		s.addIndex(&h, pos, batchLen(b), interval)
	}
	s.next = s.base + int64(endRel)
	if it.err != nil || it.torn {
		l.logger.Warn("closed segment ends in an unreadable batch", "segment", s.path(extLog), "pos", it.pos, "err", it.err)
	}
	if err := writeIndexes(s, endRel); err != nil {
		l.logger.Warn("writing rebuilt indexes", "err", err)
	}
}

// checkIndexed confirms the last index entry points at the batch it names.
func checkIndexed(s *segment, e indexEntry) error {
	var b [8]byte
	if _, err := s.f.ReadAt(b[:], int64(e.pos)); err != nil {
		return fmt.Errorf("%w: %w", errBadIndex, err)
	}
	if int64(binary.BigEndian.Uint64(b[:])) != s.base+int64(e.rel) {
		return fmt.Errorf("%w: last entry points at another batch", errBadIndex)
	}
	return nil
}

// recoverActive validates the active segment batch by batch, rebuilding its
// index as it goes, and truncates it after the last good batch.
func (l *Log) recoverActive() error {
	s := l.active
	size := s.size.Load()
	it := batchReader{r: s.f, end: size}
	interval := l.cfg.Load().indexInterval()
	good := int64(0)
	var reason error
	for {
		pos, b, ok := it.next(true)
		if !ok {
			if it.torn {
				reason = fmt.Errorf("%w: torn batch", ErrCorruptBatch)
			}
			break
		}
		if err := checkBatch(b); err != nil {
			reason = err
			break
		}
		h := parseHeader(b)
		if h.baseOffset != s.next || h.lastOffset < h.baseOffset {
			reason = fmt.Errorf("%w: batch offset %d, expected %d", ErrCorruptBatch, h.baseOffset, s.next)
			break
		}
		if good == 0 {
			// Age rolls count from the first batch's timestamp, as in Kafka,
			// unless it is missing or in the future.
			now := l.now().UnixMilli()
			s.rollAtMs = h.maxTimestamp
			if s.rollAtMs <= 0 || s.rollAtMs > now {
				s.rollAtMs = now
			}
		}
		s.addIndex(&h, pos, len(b), interval)
		good = it.pos
	}
	if it.err != nil {
		return it.err
	}
	if good == 0 {
		s.rollAtMs = 0
	}
	if good < size {
		l.logger.Warn("truncating corrupt tail of active segment", "segment", s.path(extLog),
			"valid_bytes", good, "dropped_bytes", size-good, "reason", reason)
		if err := s.f.Truncate(good); err != nil {
			return fmt.Errorf("storage: truncate segment: %w", err)
		}
		s.size.Store(good)
	}
	// Whatever survived a crash counts as durable from now on.
	return s.sync()
}

// loadProducers restores producer and transaction state from the newest
// usable snapshot and replays the batch headers written after it. The
// active segment's aborted index is rebuilt on the way: the snapshot
// carries its entries below the snapshot offset and the replay adds the
// rest; its .txnindex file, written on Close, may predate a crash.
func (l *Log) loadProducers(snaps []int64) error {
	from := l.segs[0].base
	var aborted []abortedEntry
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		if off > l.nextOff {
			os.Remove(l.snapshotPath(off))
			continue
		}
		b, err := os.ReadFile(l.snapshotPath(off))
		if err == nil {
			var p producerStates
			if p, aborted, err = unmarshalProducers(b); err == nil {
				l.producers, from = p, off
				l.snapshots = snaps[:i+1]
				break
			}
		}
		l.logger.Warn("ignoring producer snapshot", "offset", off, "err", err)
		os.Remove(l.snapshotPath(off))
	}
	l.active.aborted = slices.DeleteFunc(aborted, func(e abortedEntry) bool {
		return e.LastOffset < l.active.base || e.LastOffset >= from
	})
	for id, e := range l.producers {
		if e.txnFirst >= 0 {
			l.txnOpen = append(l.txnOpen, openTxn{pid: id, first: e.txnFirst, end: -1})
		}
	}
	for _, s := range l.segs {
		if s.next <= from {
			continue
		}
		it := batchReader{r: s.f, pos: s.lookupOffset(from), end: s.size.Load()}
		// Only the active segment's aborted index comes from the replay;
		// closed segments have their files.
		var into *segment
		if s == l.active {
			into = s
		}
		for {
			pos, b, ok := it.next(false)
			if !ok {
				break
			}
			h := parseHeader(b)
			if h.baseOffset < from || h.producerID < 0 {
				continue
			}
			appendTime := int64(-1)
			if h.attributes&attrLogAppendTime != 0 {
				appendTime = h.maxTimestamp
			}
			var m marker
			if h.attributes&attrControl != 0 {
				var err error
				if m, err = readMarkerAt(s, pos, batchLen(b)); err != nil {
					l.logger.Warn("unreadable control batch", "segment", s.path(extLog), "offset", h.baseOffset, "err", err)
				}
			}
			l.producers.update(&h, appendTime)
			l.trackTxnLocked(&h, m, into)
		}
		if it.err != nil {
			return it.err
		}
	}
	l.producers.evictBefore(l.lso.Load())
	l.publishTxnLocked()
	return nil
}

// readLogStart returns the persisted log start offset, 0 if none.
func readLogStart(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, logStartFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: read log start offset: %w", err)
	}
	if len(b) != 12 || crc32.Checksum(b[:8], crcTable) != binary.BigEndian.Uint32(b[8:]) {
		return 0, fmt.Errorf("storage: %s is corrupt", logStartFile)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// writeLogStart durably replaces the persisted log start offset.
func writeLogStart(dir string, off int64) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(off))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	final := filepath.Join(dir, logStartFile)
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("storage: write log start offset: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: write log start offset: %w", err)
	}
	return syncDir(dir)
}
