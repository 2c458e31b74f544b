package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Exactly-once, per stream thread (see ExactlyOnce):
//
//   - The thread's client is a kgo.GroupTransactSession with a transactional ID of
//     its own, read_committed. Its producer ID is initialized before the thread
//     creates a task, which fences a predecessor with the same ID and aborts its open
//     transaction before any changelog is restored.
//   - A transaction begins before a round of processing and ends at the commit
//     interval: the stores flush into it, then End flushes the producer, commits the
//     input offsets the tasks processed (TxnOffsetCommit with the group's generation
//     and member ID, so a member the group has moved on from cannot commit) and
//     commits. Only then do the stores commit, with the changelog offsets they
//     reflect, and the checkpoints follow.
//   - The thread allows a rebalance only between transactions, so a revocation never
//     meets uncommitted work. The session still marks itself revoked when the group
//     callbacks run, which would abort the next transaction; the thread ends an empty
//     one right after a rebalance to clear that, dropping what it fetched meanwhile
//     (the session rewinds the consumer to the committed offsets).
//   - A transaction that does not commit (the group moved on, a transient error the
//     session turned into an abort) rewinds the thread: its tasks close without
//     committing, so their stores roll back to their last commit, and are created
//     again, restoring the changelog tail, while the consumer reads again from the
//     committed offsets. An error End cannot recover from (a fenced producer, above
//     all) stops the thread after a best-effort abort.

// transactionalID names the producer of thread index (from 1) of an instance: stable
// across restarts of an instance on the same state directory.
func transactionalID(appID, processID string, index int) string {
	return appID + "-" + processID + "-" + strconv.Itoa(index)
}

// txnOpts are the options of an exactly-once thread's client: before base, so that
// Config.ClientOptions may override the transaction timeout, and after it.
func txnOpts(id string) (before, after []kgo.Opt) {
	return []kgo.Opt{kgo.TransactionTimeout(defaultTransactionTimeout)},
		[]kgo.Opt{kgo.TransactionalID(id), kgo.FetchIsolationLevel(kgo.ReadCommitted())}
}

// txn is the transaction state of one exactly-once thread; the thread's loop uses it
// under the thread's lock, and the group callbacks only set rebalanced.
type txn struct {
	sess *kgo.GroupTransactSession
	cl   *kgo.Client
	prod *producer
	log  *slog.Logger

	open       bool  // Begin was called and End not yet
	sentAtOpen int64 // the producer's send count when the transaction began
	rebalanced bool  // group callbacks ran since the last End
	// committed holds the input offsets this thread last committed, so a commit sends
	// only those that moved.
	committed map[TopicPartition]int64
}

func newTxn(sess *kgo.GroupTransactSession, prod *producer, log *slog.Logger) *txn {
	return &txn{sess: sess, cl: sess.Client(), prod: prod, log: log, committed: map[TopicPartition]int64{}}
}

// init loads the producer ID, fencing a previous producer with the same
// transactional ID.
func (x *txn) init(ctx context.Context) error {
	if _, _, err := x.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("runtime: init transactional producer: %w", err)
	}
	return nil
}

// begin begins a transaction unless one is open.
func (x *txn) begin() error {
	if x.open {
		return nil
	}
	if err := x.sess.Begin(); err != nil {
		return fmt.Errorf("runtime: begin transaction: %w", err)
	}
	x.open, x.sentAtOpen = true, x.prod.sent.Load()
	return nil
}

// commit ends the open transaction with a commit of offsets, the tasks' input
// positions, and reports whether it committed. An empty transaction (nothing sent,
// no offset moved) ends without a request. Not committing without an error means the
// session aborted: the caller rewinds. An error is not retryable.
func (x *txn) commit(ctx context.Context, offsets map[TopicPartition]int64) (bool, error) {
	if !x.open {
		return true, nil
	}
	x.open = false
	moved := map[TopicPartition]int64{}
	for tp, off := range offsets {
		if c, ok := x.committed[tp]; !ok || c != off {
			moved[tp] = off
		}
	}
	if len(moved) == 0 && x.prod.sent.Load() == x.sentAtOpen {
		if err := x.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return false, fmt.Errorf("runtime: end empty transaction: %w", err)
		}
		return true, nil
	}
	ctx = kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		setTxnOffsets(req, moved)
		return nil
	})
	committed, err := x.sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return false, fmt.Errorf("runtime: commit transaction: %w", err)
	}
	if committed {
		maps.Copy(x.committed, moved)
	}
	return committed, nil
}

// abort ends the open transaction, if any, with an abort, and rewinds the consumer to
// the committed offsets (the session always does on an abort).
func (x *txn) abort(ctx context.Context) error {
	x.open = false
	if _, err := x.sess.End(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("runtime: abort transaction: %w", err)
	}
	return nil
}

// setTxnOffsets replaces the offsets of a TxnOffsetCommit, which the session fills
// with the consumer's polled positions, by the positions the tasks processed: records
// polled but still queued in a task are not committed.
func setTxnOffsets(req *kmsg.TxnOffsetCommitRequest, offsets map[TopicPartition]int64) {
	ids := map[string][16]byte{}
	for _, t := range req.Topics {
		ids[t.Topic] = t.TopicID
	}
	tps := slices.SortedFunc(maps.Keys(offsets), compareTopicPartitions)
	req.Topics = req.Topics[:0]
	for _, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic, rt.TopicID = tp.Topic, ids[tp.Topic]
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = tp.Partition, offsets[tp], -1, &req.MemberID
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
}

// isFenced reports an error meaning another producer took over the transactional ID.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// fencedError wraps err with ErrFenced when it means the producer was fenced.
func fencedError(err error) error {
	if err != nil && isFenced(err) && !errors.Is(err, ErrFenced) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}

// commitEOS commits tasks in the open transaction: their stores flush into it, the
// transaction commits with their input offsets, then the stores commit and the
// checkpoints are written. A transaction that aborts rewinds the thread.
func (t *thread) commitEOS(ids []TaskID) error {
	if err := t.txn.begin(); err != nil {
		return err
	}
	offsets := map[TopicPartition]int64{}
	for _, id := range ids {
		offs, err := t.tasks[id].task.flushForTransaction()
		if err != nil {
			return err
		}
		maps.Copy(offsets, offs)
	}
	// A record the handler said to fail on must not be committed without its peers.
	if err := t.prod.Flush(); err != nil {
		return err
	}
	committed, err := t.txn.commit(t.io, offsets)
	if err != nil {
		return err
	}
	if !committed {
		t.log.Warn("transaction aborted; rewinding the tasks to their last commit")
		t.rewind()
		return nil
	}
	for _, id := range ids {
		at := t.tasks[id]
		if err := at.task.commitStores(t.prod); err != nil {
			return err
		}
		t.checkpoint(id, at)
	}
	return nil
}

// checkpoint records the changelog offsets at's committed state reflects in its
// checkpoint file.
func (t *thread) checkpoint(id TaskID, at *appTask) {
	for name := range at.changelogs {
		tp := t.changelogPartition(id, name)
		if next, ok := t.prod.NextOffset(tp.Topic, tp.Partition); ok {
			at.changelogs[name] = next
		}
	}
	if len(at.changelogs) > 0 && !maps.Equal(at.changelogs, at.checkpoint) {
		if err := t.app.dir.writeCheckpoint(id, at.changelogs); err != nil {
			t.log.Warn("writing checkpoint", "task", id.String(), "err", err)
			return
		}
		at.checkpoint = maps.Clone(at.changelogs)
	}
}

// rewind closes the running tasks without committing, which rolls their stores back
// to their last commit, and makes them pending again, so the loop creates them anew
// from their stores and changelogs; what they had queued is dropped, since the
// consumer, rewound by the session's abort, fetches it again.
func (t *thread) rewind() {
	for _, id := range t.taskIDs() {
		at := t.tasks[id]
		parts := at.task.Partitions()
		t.removeTask(id)
		t.closeTask(at, "closing task to rewind it")
		t.pending[id] = parts
	}
	clear(t.held)
	t.resumeAll()
}

// afterRebalance ends an empty transaction to clear the session's revoked mark, which
// rewinds the consumer to the committed offsets: the records fetched until now are
// dropped, as they will be fetched again.
func (t *thread) afterRebalance() (dropFetched bool, err error) {
	if !t.txn.rebalanced {
		return false, nil
	}
	t.txn.rebalanced = false
	if err := t.txn.abort(t.io); err != nil {
		return false, err
	}
	clear(t.txn.committed) // other members may have committed since
	clear(t.held)
	for _, at := range t.tasks {
		at.task.ClearBuffered()
	}
	return true, nil
}
