package txn

import (
	"context"
	"time"
)

// loop runs sweep every AbortInterval until ctx ends.
func (c *Coordinator) loop(ctx context.Context) {
	defer close(c.loopDone)
	tick := time.NewTicker(c.opts.AbortInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.sweep(ctx)
		}
	}
}

// sweep aborts transactions past their timeout (with an epoch bump, fencing the
// producer as Kafka does), finishes decided ones whose markers failed, and forgets IDs
// idle for longer than IDExpiration.
func (c *Coordinator) sweep(ctx context.Context) {
	var due []*txn
	for _, t := range c.snapshot() {
		t.mu.Lock()
		if c.due(t, c.opts.Now()) {
			due = append(due, t)
		}
		t.mu.Unlock()
	}
	c.each(ctx, due, func(t *txn) {
		t.mu.Lock()
		defer t.mu.Unlock()
		now := c.opts.Now()
		if !c.due(t, now) {
			return // changed since it was picked
		}
		switch {
		case t.m.state == stateOngoing:
			c.coordinatorAbort(ctx, t, "transaction timed out")
		case t.m.state.prepared():
			c.retryFinish(ctx, t)
		default:
			c.expire(t)
		}
	})
}

// due reports whether the sweep has something to do for t; t.mu is held.
func (c *Coordinator) due(t *txn, now time.Time) bool {
	if !t.logged || t.removed || t.busy {
		return false
	}
	switch {
	case t.m.state == stateOngoing:
		return now.Sub(t.m.start) > t.m.timeout
	case t.m.state.prepared():
		return true
	}
	return now.Sub(t.m.updated) > c.opts.IDExpiration
}

// expire logs that t is forgotten and takes it out of the registry; t.mu is held.
func (c *Coordinator) expire(t *txn) {
	seq, err := c.store.write(t.id, nil)
	if err == nil {
		err = c.store.wait(seq)
	}
	if err != nil {
		c.log.Warn("expiring transactional id failed", "transactional_id", t.id, "err", err)
		return
	}
	c.log.Debug("transactional id expired", "transactional_id", t.id, "producer_id", t.m.producerID)
	t.m.state = stateDead
	c.remove(t)
}
