package txn

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errEpochExhausted guards an epoch bump past int16; the bump rules keep epochs below.
var errEpochExhausted = errors.New("txn: producer epoch exhausted")

// EndTxn commits or aborts the producer's transaction: it logs the decision, writes the
// markers and completes the groups' offsets, logs the completion and only then answers.
// EndTxn v5 (KIP-890 part 2 epoch bumps) is answered as v4 is, without a new epoch.
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ErrorCode = c.endTxn(ctx, req)
	return resp
}

func (c *Coordinator) endTxn(ctx context.Context, req *kmsg.EndTxnRequest) int16 {
	if req.TransactionalID == "" {
		return kerr.InvalidRequest.Code
	}
	t, err := c.lockTxn(req.TransactionalID, false)
	if err != nil {
		return errorCode(err)
	}
	if t == nil {
		return kerr.InvalidProducerIDMapping.Code
	}
	defer t.mu.Unlock()
	if code := t.m.checkProducer(req.ProducerID, req.ProducerEpoch, req.Version >= 2); code != 0 {
		return code
	}
	if t.busy {
		return kerr.ConcurrentTransactions.Code
	}
	want := statePrepareAbort
	if req.Commit {
		want = statePrepareCommit
	}
	switch t.m.state {
	case stateOngoing:
		next := t.m.clone()
		next.state = want
		next.updated = c.opts.Now()
		if err := c.persist(t, next); err != nil {
			return errorCode(err)
		}
		return c.finishCode(ctx, t)
	case statePrepareCommit, statePrepareAbort:
		// A retry of an EndTxn whose markers failed: finish them now.
		if t.m.state != want {
			return kerr.InvalidTxnState.Code
		}
		return c.finishCode(ctx, t)
	case stateCompleteCommit:
		if !req.Commit {
			return kerr.InvalidTxnState.Code
		}
		return 0 // a retry of the commit
	case stateCompleteAbort:
		if req.Commit {
			return kerr.InvalidTxnState.Code
		}
		return 0 // a retry of the abort
	case stateEmpty:
		// Nothing was added, so there is nothing to end. Kafka answers INVALID_TXN_STATE
		// here; clients do not send it, and succeeding is the harmless answer.
		return 0
	}
	return kerr.InvalidTxnState.Code
}

// checkProducer answers a request of the producer (pid, epoch) for the ID's current
// producer: INVALID_PRODUCER_ID_MAPPING for another producer ID, and for another epoch
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before the request versions that know
// PRODUCER_FENCED, fencedKnown false). The epoch the producer held before a coordinator
// abort or its own KIP-360 bump is answered INVALID_PRODUCER_EPOCH, which clients
// recover from with InitProducerId (KIP-588), since no other producer took over.
func (m *meta) checkProducer(pid int64, epoch int16, fencedKnown bool) int16 {
	switch {
	case pid != m.producerID:
		return kerr.InvalidProducerIDMapping.Code
	case epoch == m.epoch:
		return 0
	case pid == m.lastProducerID && epoch == m.lastEpoch, !fencedKnown:
		return kerr.InvalidProducerEpoch.Code
	}
	return kerr.ProducerFenced.Code
}

// finishCode finishes t's prepared transaction and answers the client: a decision that
// is logged but whose markers failed is CONCURRENT_TRANSACTIONS, so that the client
// retries, and a retry (or the background loop) finishes it.
func (c *Coordinator) finishCode(ctx context.Context, t *txn) int16 {
	if err := c.finish(ctx, t); err != nil {
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

// finish writes the markers and groups' offsets of t's prepared transaction and logs its
// completion. t.mu is held, and released while the markers are written. The markers
// follow every batch CheckProduce let into the transaction (see there).
func (c *Coordinator) finish(ctx context.Context, t *txn) error {
	m := t.m
	commit := m.state == statePrepareCommit
	parts := m.partitionList()
	groups := m.groupList()
	t.busy = true
	t.mu.Unlock()
	t.appends.Wait()
	err := c.writeOutcome(ctx, m.producerID, m.epoch, commit, parts, groups)
	t.mu.Lock()
	t.busy = false
	if err != nil {
		c.log.Warn("writing transaction markers failed; will retry", "transactional_id", t.id,
			"producer_id", m.producerID, "epoch", m.epoch, "commit", commit, "err", err)
		return err
	}
	return c.persist(t, t.m.completed(c.opts.Now()))
}

func (c *Coordinator) writeOutcome(ctx context.Context, pid int64, epoch int16, commit bool, parts []TopicPartition, groups []string) error {
	if len(parts) > 0 {
		if err := c.opts.Markers.WriteMarkers(ctx, pid, epoch, commit, parts); err != nil {
			return fmt.Errorf("txn: markers: %w", err)
		}
	}
	for _, g := range groups {
		if err := c.opts.Markers.CompleteOffsets(ctx, g, pid, commit); err != nil {
			return fmt.Errorf("txn: offsets of group %s: %w", g, err)
		}
	}
	return nil
}

// retryFinish finishes t's prepared transaction, leaving a failure (logged by finish) to
// the next try; t.mu is held.
func (c *Coordinator) retryFinish(ctx context.Context, t *txn) {
	_ = c.finish(ctx, t)
}

// prepareFenceAbort logs the abort of t's ongoing transaction with the producer epoch
// bumped, so that its markers fence the producer; t.mu is held. The producer may claim
// the new epoch with its old pair (KIP-588).
func (c *Coordinator) prepareFenceAbort(t *txn) error {
	if t.m.epoch >= math.MaxInt16 {
		return errEpochExhausted
	}
	next := t.m.clone()
	next.lastProducerID, next.lastEpoch = t.m.producerID, t.m.epoch
	next.epoch++
	next.state = statePrepareAbort
	next.updated = c.opts.Now()
	return c.persist(t, next)
}

// coordinatorAbort aborts t's ongoing transaction with an epoch bump, for a timeout or a
// restart; t.mu is held. Failures are logged and left to the background loop.
func (c *Coordinator) coordinatorAbort(ctx context.Context, t *txn, reason string) {
	c.log.Info("aborting transaction", "reason", reason, "transactional_id", t.id,
		"producer_id", t.m.producerID, "epoch", t.m.epoch, "started", t.m.start)
	if err := c.prepareFenceAbort(t); err != nil {
		c.log.Error("aborting transaction failed", "transactional_id", t.id, "err", err)
		return
	}
	c.retryFinish(ctx, t)
}
