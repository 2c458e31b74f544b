package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/eddy-io/eddy/broker/internal/storage"
	"github.com/eddy-io/eddy/broker/internal/txn"
)

// txnMarkers is the transaction coordinator's hand on the data: it ends transactions in
// the topics' logs and in the groups' pending offsets.
type txnMarkers struct{ b *Broker }

var _ txn.MarkerWriter = txnMarkers{}

// markerWait is a partition whose marker was appended and must become durable.
type markerWait struct {
	log  *storage.Log
	tp   txn.TopicPartition
	last int64
}

// WriteMarkers appends every marker first and then waits for them together, so the
// partitions' fsyncs overlap instead of adding up.
func (m txnMarkers) WriteMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, parts []txn.TopicPartition) error {
	pending := make([]markerWait, 0, len(parts))
	for _, tp := range parts {
		p := topicPartition(m.b.topics.get(tp.Topic), tp.Partition)
		if p == nil {
			continue // the topic was deleted, and its transaction data with it
		}
		info, err := p.log.AppendMarker(producerID, epoch, commit, 0)
		switch {
		case err == nil:
			pending = append(pending, markerWait{log: p.log, tp: tp, last: info.LastOffset})
		case errors.Is(err, storage.ErrClosed) && !m.b.topics.partitionExists(tp.Topic, tp.Partition):
			// Deleted between the lookup and the append.
		case errors.Is(err, storage.ErrInvalidProducerEpoch):
			// The partition has seen a newer epoch of this producer, which only a later
			// transaction gives it: this one is over there. Kafka's coordinator also
			// stops sending a marker that the leader answers so.
			m.b.log.Warn("transaction marker refused: newer producer epoch in partition",
				"topic", tp.Topic, "partition", tp.Partition, "producer_id", producerID, "epoch", epoch)
		default:
			return fmt.Errorf("broker: transaction marker for %s-%d: %w", tp.Topic, tp.Partition, err)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	errs := make([]error, len(pending))
	var wg sync.WaitGroup
	for i, w := range pending {
		wg.Go(func() {
			err := w.log.WaitDurable(ctx, w.last)
			if err != nil && !(errors.Is(err, storage.ErrClosed) && !m.b.topics.partitionExists(w.tp.Topic, w.tp.Partition)) {
				errs[i] = fmt.Errorf("broker: transaction marker for %s-%d: %w", w.tp.Topic, w.tp.Partition, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CompleteOffsets makes the producer's transactional offsets in group committed or drops
// them.
func (m txnMarkers) CompleteOffsets(ctx context.Context, group string, producerID int64, commit bool) error {
	if err := m.b.groups.CompleteTxn(ctx, group, producerID, commit); err != nil {
		return fmt.Errorf("broker: transactional offsets of group %s: %w", group, err)
	}
	return nil
}
