package group

import (
	"context"
	"errors"
	"time"
)

// Offset retention follows Kafka's offsets.retention.minutes for classic groups since
// KIP-211 (Kafka 2.1), taken whole group at a time. A group's committed offsets are
// deleted, and the group with them, once
//   - it is Empty: no members and no member IDs handed out to joins in progress,
//   - no transaction has offsets of it pending, and
//   - Options.OffsetsRetention has passed since the later of its last commit
//     (OffsetCommit, TxnOffsetCommit or the end of its transaction) and the moment its
//     last member left.
//
// Kafka differs in three ways, all of which keep offsets longer here: it expires the
// offsets of a group with members for topics none of them subscribes to; it expires
// each partition's offset of a group that never had members (simple consumers) on its
// own commit time, where here the group's latest commit keeps all of them; and a commit
// into an Empty consumer group does not restart its clock, where here any commit does,
// so that offsets someone still commits never go.
//
// The times survive restarts: every record written carries its time (opTimed), and a
// group gaining its first member or losing its last is logged (opMembers). A group that
// had members when the broker stopped, or whose records predate opTimed, counts from
// the broker's start, which the store logs on open (restartClocks) so that a broker
// restarted often still expires it.

// expireLoop looks for expired offsets every Options.OffsetsRetentionCheckInterval
// until ctx ends.
func (c *Coordinator) expireLoop(ctx context.Context) {
	defer close(c.expiryDone)
	if c.opts.OffsetsRetention <= 0 {
		return
	}
	t := time.NewTicker(c.opts.OffsetsRetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.expireOffsets(ctx)
		}
	}
}

// expireOffsets deletes the groups whose offsets have expired and waits until that is
// durable (with Options.Sync).
func (c *Coordinator) expireOffsets(ctx context.Context) {
	cutoff := c.opts.now().Add(-c.opts.OffsetsRetention).UnixMilli()
	var last uint64
	for _, g := range c.snapshot() {
		seq, err := c.expireGroup(g.name, cutoff)
		if errors.Is(err, errClosed) {
			return
		}
		if err != nil {
			c.log.Warn("expiring group offsets failed", "group", g.name, "err", err)
			continue
		}
		last = max(last, seq)
	}
	if last == 0 {
		return
	}
	if err := c.store.flush(ctx, last); err != nil && ctx.Err() == nil {
		c.log.Warn("expiring group offsets failed", "err", err)
	}
}

// expireGroup deletes the named group if its offsets were last used at or before
// cutoff (Unix milliseconds). It returns the sequence number of the log record to
// flush, 0 when nothing was written.
func (c *Coordinator) expireGroup(name string, cutoff int64) (uint64, error) {
	g, err := c.lockGroup(name, false)
	if err != nil || g == nil {
		return 0, err
	}
	defer c.unlock(g)
	if g.state != stateEmpty || len(g.members) > 0 || len(g.pending) > 0 {
		return 0, nil
	}
	since, ok := c.store.idleSince(name)
	if !ok || since > cutoff {
		return 0, nil
	}
	seq, err := c.dropGroup(g)
	if err != nil {
		return 0, err
	}
	c.log.Info("group offsets expired", "group", name, "idle_since", time.UnixMilli(since), "retention", c.opts.OffsetsRetention)
	return seq, nil
}

// logMembers logs that g gained its first member or lost its last one; g.mu is held.
// Only a restart reads it back, until then the group's own state counts, so a failure
// is reported and otherwise ignored.
func (g *group) logMembers(has bool) {
	_, err := g.c.store.write(&op{kind: opMembers, group: g.name, members: has})
	if err != nil && !errors.Is(err, errStoreClosed) {
		g.c.log.Warn("logging group membership failed", "group", g.name, "err", err)
	}
}
