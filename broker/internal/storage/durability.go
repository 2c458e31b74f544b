package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitDurable blocks until every record through offset is fsynced. Under
// FsyncAlways concurrent callers share fsyncs: one of them (the leader)
// fsyncs everything appended so far while the others wait for it, then
// return if it covered them or elect the next leader if not. Under the other
// policies it returns at once.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	if l.opts.Fsync != FsyncAlways {
		return nil
	}
	if offset >= l.end.Load() {
		return fmt.Errorf("%w: offset %d was not appended (end %d)", ErrOffsetOutOfRange, offset, l.end.Load())
	}
	for {
		if l.durable.Load() > offset {
			return nil
		}
		if l.closed.Load() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		l.syncMu.Lock()
		if l.syncing {
			done := l.syncDone
			l.syncMu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		l.syncing = true
		l.syncMu.Unlock()

		_, err := l.syncData()

		l.syncMu.Lock()
		l.syncing = false
		close(l.syncDone)
		l.syncDone = make(chan struct{})
		l.syncMu.Unlock()
		if err != nil && l.durable.Load() <= offset {
			return err
		}
	}
}

// syncData fsyncs every segment holding data that is not yet durable and
// returns the end offset it made durable.
func (l *Log) syncData() (int64, error) {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	end := l.nextOff
	active := l.active
	dirty, dirDirty := l.dirty, l.dirDirty
	l.dirty, l.dirDirty = nil, false
	l.mu.Unlock()

	var errs []error
	for _, s := range dirty {
		errs = append(errs, s.sync())
	}
	if dirDirty {
		errs = append(errs, syncDir(l.dir))
	}
	errs = append(errs, active.sync())
	l.fsyncs.Add(1)
	if err := errors.Join(errs...); err != nil {
		l.mu.Lock()
		l.dirty = append(dirty, l.dirty...)
		l.dirDirty = l.dirDirty || dirDirty
		l.mu.Unlock()
		return 0, err
	}
	l.markDurable(end)
	return end, nil
}

// markDurable records that everything below end is on disk; under
// FsyncAlways that is what readers may now see.
// The high watermark moves first, so that a WaitDurable that sees its
// offset durable also finds it readable.
func (l *Log) markDurable(end int64) {
	moved := l.opts.Fsync == FsyncAlways && storeMax(&l.hw, end)
	storeMax(&l.durable, end)
	if moved {
		l.notify()
	}
}

// syncLoop is the FsyncInterval background flusher.
func (l *Log) syncLoop(every time.Duration) {
	defer l.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if l.durable.Load() >= l.end.Load() {
				continue
			}
			if _, err := l.syncData(); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Warn("interval fsync failed", "err", err)
			}
		}
	}
}
