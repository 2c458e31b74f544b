package journal

import (
	"context"
	"os"
)

// Rebase counts the size at which Wait next compacts the log from the log's size now,
// after rewriting it first when compact is set. Owners call it once they have opened
// the journal and logged what they log at start, and fail to open when the rewrite
// fails.
func (j *Journal) Rebase(compact bool) error {
	j.syncSem <- struct{}{}
	defer func() { <-j.syncSem }()
	j.mu.Lock()
	defer j.mu.Unlock()
	if compact {
		return j.compactLocked()
	}
	j.compactAt = max(j.opts.MinCompact, 2*j.size)
	return nil
}

// compact rewrites the log if it is still due once no fsync runs, so that none runs
// on the file being replaced.
func (j *Journal) compact(ctx context.Context) error {
	select {
	case j.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-j.syncSem }()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.err != nil || j.size < j.compactAt {
		return nil
	}
	if err := j.compactLocked(); err != nil {
		// The old log is still whole; try again once it has grown some more.
		j.log.Warn(j.opts.Name+" compaction failed", "err", err)
		j.compactAt = 2 * j.size
	}
	return j.err
}

// compactLocked writes the snapshot to a temporary file, syncs it and renames it over
// the log; the new file's handle becomes the log's. j.mu and syncSem are held.
func (j *Journal) compactLocked() error {
	buf := []byte(j.opts.Magic)
	for p := range j.opts.Snapshot {
		buf = appendFrame(buf, p)
	}
	tmpPath := j.path + ".tmp"
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return j.errorf("compact %s", err)
	}
	if _, err := tmp.Write(buf); err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(tmpPath, j.path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmpPath)
		return j.errorf("compact %s", err)
	}
	old := j.f
	j.f = tmp
	old.Close()
	if err := syncDir(j.opts.Owner, j.opts.Dir); err != nil {
		// The rename may not survive a crash, and later appends go to the new file.
		j.err = err
		return err
	}
	j.log.Debug(j.opts.Name+" compacted", "from_bytes", j.size, "to_bytes", len(buf))
	j.size = int64(len(buf))
	j.compactAt = max(j.opts.MinCompact, 2*j.size)
	j.synced.Store(j.written)
	return nil
}
