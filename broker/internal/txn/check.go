package txn

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CheckProduce returns a nil error when tp is in the ongoing transaction of the
// transactional ID and producer (producerID, epoch). Otherwise it returns an error wrapping
// a *kerr.Error: TransactionalIDNotFound, InvalidProducerIDMapping (another producer ID),
// InvalidProducerEpoch (another epoch, what a partition leader answers a fenced or
// timed-out producer) or InvalidTxnState (no transaction, or tp not added to it).
//
// On success the caller appends the batches and then calls done. Until it does, the
// transaction's markers wait: a batch checked while the transaction was ongoing must land
// before its marker. Appended after it, the batch would open a transaction in the
// partition that the coordinator has already ended, which holds back the last stable
// offset until a later marker of the producer ends it, and that marker may well be a
// COMMIT of records the producer had aborted. (Kafka closes the same gap with KIP-890's
// verification.)
func (c *Coordinator) CheckProduce(txnID string, producerID int64, epoch int16, tp TopicPartition) (done func(), err error) {
	err = c.check(txnID, producerID, epoch, func(m *meta) bool { return m.hasPartition(tp) },
		func() string { return fmt.Sprintf("partition %s-%d", tp.Topic, tp.Partition) },
		func(t *txn) { done = t.holdEnd() })
	return done, err
}

// CheckOffsetCommit is CheckProduce for a TxnOffsetCommit: nil when group was added to
// the producer's ongoing transaction with AddOffsetsToTxn. On success the caller stores
// the pending offsets and then calls done; the transaction's end waits for it, since
// offsets stored pending after their transaction was completed would stay pending.
func (c *Coordinator) CheckOffsetCommit(txnID string, producerID int64, epoch int16, group string) (done func(), err error) {
	err = c.check(txnID, producerID, epoch, func(m *meta) bool { _, ok := m.groups[group]; return ok },
		func() string { return "group " + group },
		func(t *txn) { done = t.holdEnd() })
	return done, err
}

// check answers whether the producer may write to what in describes; passed, when not
// nil, runs under the ID's lock once it may.
func (c *Coordinator) check(txnID string, producerID int64, epoch int16, in func(*meta) bool, what func() string, passed func(*txn)) error {
	t, err := c.lockTxn(txnID, false)
	if err != nil {
		return fmt.Errorf("%w: %w", kerr.NotCoordinator, err)
	}
	if t == nil {
		return fmt.Errorf("txn: transactional id %q: %w", txnID, kerr.TransactionalIDNotFound)
	}
	defer t.mu.Unlock()
	switch {
	case producerID != t.m.producerID:
		return fmt.Errorf("txn: transactional id %q has producer id %d, not %d: %w",
			txnID, t.m.producerID, producerID, kerr.InvalidProducerIDMapping)
	case epoch != t.m.epoch:
		return fmt.Errorf("txn: transactional id %q has producer epoch %d, not %d: %w",
			txnID, t.m.epoch, epoch, kerr.InvalidProducerEpoch)
	case t.m.state != stateOngoing:
		return fmt.Errorf("txn: transactional id %q is %s, not in a transaction: %w", txnID, t.m.state, kerr.InvalidTxnState)
	case !in(&t.m):
		return fmt.Errorf("txn: %s not added to the transaction of %q: %w", what(), txnID, kerr.InvalidTxnState)
	}
	if passed != nil {
		passed(t)
	}
	return nil
}

// holdEnd makes the transaction's end wait until the returned func is called; the
// caller holds t's lock.
func (t *txn) holdEnd() func() {
	t.appends.Add(1)
	return t.appends.Done
}
