package storage

import (
	"errors"
	"fmt"
	"slices"
)

// EnforceRetention rolls an over-age active segment and deletes the oldest
// closed segments that are past RetentionAge (by their newest record
// timestamp) or beyond RetentionBytes. It returns how many it deleted.
// Segments holding records above the high watermark are kept.
func (l *Log) EnforceRetention() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	cfg := l.cfg.Load()
	nowMs := l.now().UnixMilli()
	var rollErr error
	if s := l.active; cfg.SegmentAge > 0 && s.size.Load() > 0 && nowMs-s.rollAtMs >= cfg.SegmentAge.Milliseconds() {
		rollErr = l.rollLocked()
	}

	hw := l.hw.Load()
	closed := l.segs[:len(l.segs)-1]
	for i, s := range closed {
		if s.next > hw {
			closed = closed[:i]
			break
		}
	}
	k := 0
	if cfg.RetentionAge >= 0 {
		cutoff := nowMs - cfg.RetentionAge.Milliseconds()
		for k < len(closed) && closed[k].maxTs.Load() < cutoff {
			k++
		}
	}
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range l.segs[k:] {
			total += s.size.Load()
		}
		for k < len(closed) && total-closed[k].size.Load() >= cfg.RetentionBytes {
			total -= closed[k].size.Load()
			k++
		}
	}
	err := errors.Join(rollErr, l.deleteFirstLocked(k))
	l.producers.expireIdle(nowMs - l.opts.producerExpiration().Milliseconds())
	return k, err
}

// DeleteRecordsBefore raises the log start offset to offset, clamped to the
// high watermark, persists it durably and deletes the closed segments wholly
// below it. Kafka's -1 ("the high watermark") must be resolved by the caller;
// a negative offset is ErrOffsetOutOfRange. It returns the new start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	if offset < 0 {
		return 0, fmt.Errorf("%w: offset %d", ErrOffsetOutOfRange, offset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	offset = min(offset, l.hw.Load())
	cur := l.lso.Load()
	if offset <= cur {
		return cur, nil
	}
	if err := writeLogStart(l.dir, offset); err != nil {
		return cur, err
	}
	l.lso.Store(offset)
	k := 0
	for k < len(l.segs)-1 && l.segs[k].next <= offset {
		k++
	}
	err := l.deleteFirstLocked(k)
	l.producers.evictBefore(offset)
	return offset, err
}

// deleteFirstLocked deletes the k oldest segments, which are all closed.
func (l *Log) deleteFirstLocked(k int) error {
	if k == 0 {
		return nil
	}
	victims := slices.Clone(l.segs[:k])
	l.segMu.Lock()
	l.segs = slices.Clone(l.segs[k:])
	l.segMu.Unlock()
	storeMax(&l.lso, l.segs[0].base)
	l.dirty = slices.DeleteFunc(l.dirty, func(s *segment) bool { return slices.Contains(victims, s) })
	l.producers.evictBefore(l.lso.Load())
	var errs []error
	for _, s := range victims {
		errs = append(errs, s.remove())
	}
	return errors.Join(errs...)
}
