package runtime

import (
	"fmt"
	"maps"
)

// An exactly-once commit splits Task.Commit in two around the Kafka transaction: the
// stores flush (their changelog writes and what the caches forward join the
// transaction) and the input offsets go into the transaction; only once it has
// committed do the stores commit, so that a store never reflects a write the
// changelog may still lose to an abort.

// flushForTransaction flushes the stores' caches in topological order, as Commit
// does, without committing the stores, and returns the input offsets to commit: the
// last processed offset + 1 of each partition that has processed or skipped a record.
func (t *Task) flushForTransaction() (map[TopicPartition]int64, error) {
	if t.closed {
		return nil, ErrTaskClosed
	}
	t.hasMeta = false
	t.curTime = t.streamTime
	for _, s := range t.stores {
		if err := s.store.Flush(); err != nil {
			return nil, fmt.Errorf("runtime: task %s: flush: %w", t.id, err)
		}
	}
	out := make(map[TopicPartition]int64, len(t.queues))
	for _, q := range t.queues {
		if q.nextOffset >= 0 {
			out[q.tp] = q.nextOffset
		}
	}
	return out, nil
}

// changelogPositions tells where the records written to a partition end.
type changelogPositions interface {
	// NextOffset returns the offset after the last record written to topic-partition.
	NextOffset(topic string, partition int32) (int64, bool)
}

// commitStores commits each store with the changelog offsets it reflects, taking the
// next offset of each logged store's changelog partition from oc: called after the
// transaction holding those changelog records committed.
func (t *Task) commitStores(oc changelogPositions) error {
	if t.closed {
		return ErrTaskClosed
	}
	for _, s := range t.stores {
		if s.logged {
			if next, ok := oc.NextOffset(s.changelog.Topic, s.changelog.Partition); ok {
				s.offsets[s.changelog.String()] = next
			}
		}
		if err := s.store.Commit(maps.Clone(s.offsets)); err != nil {
			return fmt.Errorf("runtime: task %s: commit: %w", t.id, err)
		}
	}
	return nil
}
