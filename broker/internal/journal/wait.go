package journal

import "context"

// Wait makes record seq durable when the journal syncs (Options.Sync), and compacts
// the log when it is due. Call it without holding the journal's lock, nor locks that
// a writer takes before it. It gives up early only when ctx ends.
func (j *Journal) Wait(ctx context.Context, seq uint64) error {
	j.mu.Lock()
	due := j.size >= j.compactAt
	j.mu.Unlock()
	if due {
		if err := j.compact(ctx); err != nil {
			return err
		}
	}
	if !j.opts.Sync {
		return nil
	}
	for j.synced.Load() < seq {
		select {
		case j.syncSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := j.syncHeld(seq)
		<-j.syncSem
		if err != nil {
			return err
		}
	}
	return nil
}

// syncHeld fsyncs everything written so far unless a sync that finished while we
// waited for syncSem already covered seq; syncSem is held.
func (j *Journal) syncHeld(seq uint64) error {
	if j.synced.Load() >= seq {
		return nil
	}
	j.mu.Lock()
	f, target, err := j.f, j.written, j.err
	if j.closed {
		err = j.opts.ErrClosed
	}
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		err = j.errorf("fsync %s", err)
		j.mu.Lock()
		// After a failed fsync the kernel may have dropped the dirty pages: stop here.
		j.err = err
		j.mu.Unlock()
		return err
	}
	j.synced.Store(target)
	return nil
}
