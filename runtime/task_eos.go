package runtime

import (
	"errors"
	"fmt"
	"maps"
	"sync"
)

// A thread's commit splits Task.Commit in two around what makes the stores' writes
// safe to commit: the stores flush (their changelog writes and what the caches
// forward go to the producer, in the open transaction under exactly-once); only once
// the producer has flushed, or the transaction has committed, do the stores commit,
// so that a store never reflects a write the changelog may still lose. The stores
// of all the thread's tasks then commit together (commitStores).

// flushStores flushes the stores' caches in topological order, as Commit does,
// without committing the stores, and returns the input offsets to commit: the last
// processed offset + 1 of each partition that has processed or skipped a record.
func (t *Task) flushStores() (map[TopicPartition]int64, error) {
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

// storeCommits returns the commits of the task's stores, each with the changelog
// offsets it reflects: for a logged store, the next offset of its changelog partition
// as oc (which may be nil) tells it. They run once the changelog records are safe.
func (t *Task) storeCommits(oc changelogPositions) ([]func() error, error) {
	if t.closed {
		return nil, ErrTaskClosed
	}
	commits := make([]func() error, 0, len(t.stores))
	for _, s := range t.stores {
		if s.logged && oc != nil {
			if next, ok := oc.NextOffset(s.changelog.Topic, s.changelog.Partition); ok {
				s.offsets[s.changelog.String()] = next
			}
		}
		offsets := maps.Clone(s.offsets)
		commits = append(commits, func() error {
			if err := s.store.Commit(offsets); err != nil {
				return fmt.Errorf("runtime: task %s: commit: %w", t.id, err)
			}
			return nil
		})
	}
	return commits, nil
}

// commitStores commits the stores of tasks, taking changelog positions from oc, all
// at once: a persistent store is a Badger database of its own whose commit waits for a
// synced write, and those waits overlap. The tasks' other work waits meanwhile.
func commitStores(tasks []*Task, oc changelogPositions) error {
	var commits []func() error
	for _, task := range tasks {
		cs, err := task.storeCommits(oc)
		if err != nil {
			return err
		}
		commits = append(commits, cs...)
	}
	if len(commits) == 1 {
		return commits[0]()
	}
	errs := make([]error, len(commits))
	var wg sync.WaitGroup
	for i, commit := range commits {
		wg.Go(func() { errs[i] = commit() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
