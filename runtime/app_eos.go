package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
//     reflect.
//   - The thread allows a rebalance only between transactions, so a revocation never
//     meets uncommitted work. The session still marks itself revoked when the group
//     callbacks run, which would abort the next transaction; the thread ends an empty
//     one right after a rebalance to clear that, dropping what it fetched meanwhile
//     (the session rewinds the consumer to the committed offsets).
//   - A transaction that does not commit (the group moved on, a transient error the
//     session turned into an abort) rewinds the thread: its tasks close without
//     committing, so their stores roll back to their last commit, and are created
//     again, restoring the changelog tail, while the consumer reads again from the
//     offsets committed on the broker.
//   - A transaction that fails (the brokers unreachable, restarting, or answering
//     with a retriable error past the client's retries) rewinds the thread too, then
//     aborts, retrying until the abort goes through: kgo then reinitializes the
//     producer ID if the outcome of its last EndTxn is unknown, which fences and
//     aborts whatever the broker still holds open. As that outcome is unknown (the
//     commit may have gone through just before the connection broke), the consumer
//     restarts from the offsets the group coordinator has, read with RequireStable,
//     never from the client's own idea of them. Fencing, an error the brokers mean
//     (a non-retriable error code), or failures lasting longer than recoveryTimeout
//     stop the thread.

// transactionalID names the producer of thread index (from 1) of an instance: stable
// across restarts of an instance on the same state directory.
func transactionalID(appID, processID string, index int) string {
	return appID + "-" + processID + "-" + strconv.Itoa(index)
}

// fenceRetiredThreads fences the transactional IDs of the threads this instance no
// longer runs, those of a predecessor on the same state directory with more threads:
// initializing their producer IDs aborts the transactions they left open, which
// would otherwise hold back restores (and read_committed readers) until they time
// out. The thread count is recorded before the threads start, so a crash never
// leaves IDs unknown.
func (a *App) fenceRetiredThreads(ctx context.Context, base []kgo.Opt) error {
	prev, err := a.dir.eosThreads()
	if err != nil {
		return err
	}
	for i := a.cfg.Threads + 1; i <= prev; i++ {
		id := transactionalID(a.cfg.ApplicationID, a.processID, i)
		before, _ := txnOpts(id)
		cl, err := kgo.NewClient(append(append(before, base...), kgo.TransactionalID(id))...)
		if err != nil {
			return fmt.Errorf("runtime: fence transactional ID %s: %w", id, err)
		}
		_, _, err = cl.ProducerID(ctx)
		cl.Close()
		if err != nil {
			return fmt.Errorf("runtime: fence transactional ID %s: %w", id, err)
		}
		a.log.Info("fenced the transactional ID of a thread no longer run", "transactional_id", id)
	}
	if prev == a.cfg.Threads {
		return nil
	}
	return a.dir.setEOSThreads(a.cfg.Threads)
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
	id   string // the transactional ID
	cl   *kgo.Client
	prod *producer
	log  *slog.Logger

	open       bool      // Begin was called and End not yet
	failing    time.Time // when transactions began to fail, zero once one commits
	sentAtOpen int64     // the producer's send count when the transaction began
	rebalanced bool      // group callbacks ran since the last End
	// committed holds the input offsets this thread last committed, so a commit sends
	// only those that moved.
	committed map[TopicPartition]int64
}

func newTxn(sess *kgo.GroupTransactSession, id string, prod *producer, log *slog.Logger) *txn {
	return &txn{sess: sess, id: id, cl: sess.Client(), prod: prod, log: log, committed: map[TopicPartition]int64{}}
}

// init loads the producer ID, fencing a previous producer with the same
// transactional ID, and retries while the brokers cannot be reached.
func (x *txn) init(ctx context.Context) error {
	start := time.Now()
	for backoff := minRecoveryBackoff; ; backoff = min(2*backoff, maxRecoveryBackoff) {
		_, _, err := x.cl.ProducerID(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !transient(err) || time.Since(start) > recoveryTimeout {
			return fmt.Errorf("runtime: init transactional producer: %w", err)
		}
		x.log.Warn("initializing the transactional producer failed; retrying", "err", err)
		if !sleepCtx(ctx, backoff) {
			return ctx.Err()
		}
	}
}

// begin begins a transaction unless one is open.
func (x *txn) begin() error {
	if x.open {
		return nil
	}
	if err := x.sess.Begin(); err != nil {
		return &txnError{op: "begin transaction", err: err}
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
			return false, &txnError{op: "end empty transaction", err: err}
		}
		x.failing = time.Time{}
		return true, nil
	}
	ctx = kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		setTxnOffsets(req, moved)
		return nil
	})
	committed, err := x.sess.End(ctx, kgo.TryCommit)
	if err == nil && committed && x.prod.takeNewTopics() {
		err = x.settleCommit(ctx)
	}
	if err != nil {
		return false, &txnError{op: "commit transaction", err: err}
	}
	if committed {
		maps.Copy(x.committed, moved)
		x.failing = time.Time{}
	}
	return committed, nil
}

// settleCommit sends EndTxn itself after the session committed a transaction that wrote
// to a topic for the first time on this client: franz-go v1.22.3's EndTransaction may
// return without sending EndTxn when records waited for their topic's metadata (it reads
// the topic's partitions before the metadata update publishes them), which would leave
// the transaction open on the broker while the stores commit as if it had ended. A
// repeated commit of a committed transaction is answered with success, so this changes
// nothing when the session did send it. Later transactions find the partitions
// published.
func (x *txn) settleCommit(ctx context.Context) error {
	pid, epoch, err := x.cl.ProducerID(ctx)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = x.id, pid, epoch, true
	resp, err := req.RequestWith(ctx, x.cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// abort ends the open transaction, if any, with an abort, and rewinds the consumer to
// the committed offsets (the session always does on an abort).
func (x *txn) abort(ctx context.Context) error {
	x.open = false
	if _, err := x.sess.End(ctx, kgo.TryAbort); err != nil {
		return &txnError{op: "abort transaction", err: err}
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
// A partition leader's INVALID_PRODUCER_EPOCH is not one: the coordinator may have
// bumped the epoch aborting a transaction (a timeout), and the abort that follows
// tells (the coordinator answers PRODUCER_FENCED to a zombie).
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced)
}

// fencedError wraps err with ErrFenced when it means the producer was fenced.
func fencedError(err error) error {
	if err != nil && isFenced(err) && !errors.Is(err, ErrFenced) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}

// recoveryTimeout bounds how long a thread keeps trying to get its transactions
// going again (an abort, a restore) when the brokers cannot be reached before it
// gives up and fails: Kafka Streams' task.timeout.ms default.
const recoveryTimeout = 5 * time.Minute

// Backoff between attempts to recover.
const (
	minRecoveryBackoff = 100 * time.Millisecond
	maxRecoveryBackoff = 2 * time.Second
)

// txnError is a failure of one step of the thread's transaction.
type txnError struct {
	op  string
	err error
}

func (e *txnError) Error() string { return "runtime: " + e.op + ": " + e.err.Error() }
func (e *txnError) Unwrap() error { return e.err }

// abortableCodes are the error codes, not retriable as such, that end a transaction,
// not the producer: aborting (which reinitializes the producer ID where needed, KIP-360
// and KIP-588) lets the next one go on. A zombie's abort is answered PRODUCER_FENCED.
var abortableCodes = []int16{
	kerr.UnknownServerError.Code,
	kerr.OperationNotAttempted.Code,
	kerr.TransactionAbortable.Code,
	kerr.InvalidProducerEpoch.Code,
	kerr.UnknownProducerID.Code,
	kerr.InvalidProducerIDMapping.Code,
	kerr.OutOfOrderSequenceNumber.Code,
}

// transient reports an error a retry may clear: anything but fencing and the error
// codes a broker returns when retrying cannot help.
func transient(err error) bool {
	if isFenced(err) || errors.Is(err, kgo.ErrClientClosed) {
		return false
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable || slices.Contains(abortableCodes, ke.Code)
	}
	return true // the network, a timeout, an outcome kgo could not confirm
}

// recoverable reports a failure of the transaction the thread recovers from by
// rewinding (recoverTxn): a step of the transaction failed, or the broker refused a
// record for a reason that is the transaction's, not the record's.
func (t *thread) recoverable(err error) bool {
	var te *txnError
	if errors.As(err, &te) {
		return transient(err)
	}
	perr := t.prod.failed()
	return perr != nil && errors.Is(err, perr) && transient(perr)
}

// sleepCtx waits for d, reporting false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// recoverTxn gets the thread going again after its transaction failed with cause
// (see recoverable): the tasks rewind at once, so nothing they did since the last
// commit can be committed, then the transaction aborts, retried while the brokers
// cannot be reached, and the consumer restarts from the group's committed offsets.
// It gives up, returning the error, on fencing, on an error retrying cannot clear and
// once transactions have failed for recoveryTimeout. Shutting down meanwhile ends
// it without error: the tasks are closed already.
func (t *thread) recoverTxn(cause error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log.Warn("transaction failed; rewinding the tasks to their last commit", "err", cause)
	if t.txn.failing.IsZero() {
		t.txn.failing = time.Now()
	}
	t.rewind()
	// The producer's failure is the aborted transaction's: the tasks, created
	// again, send with a fresh one (over the same client).
	t.prod = newProducer(t.io, t.cl, t.app.cfg.OnProductionError, t.log)
	t.txn.prod = t.prod
	for backoff := minRecoveryBackoff; ; backoff = min(2*backoff, maxRecoveryBackoff) {
		err := t.txn.abort(t.io)
		if err == nil {
			err = t.resetPositions()
		}
		if err == nil {
			t.log.Info("transaction aborted; the tasks start again from the committed offsets")
			return nil
		}
		if t.ctx.Err() != nil {
			return nil
		}
		if !transient(err) || time.Since(t.txn.failing) > recoveryTimeout {
			return errors.Join(cause, err)
		}
		t.log.Warn("recovering from a failed transaction", "err", err)
		if !sleepCtx(t.ctx, backoff) {
			return nil
		}
	}
}

// resetPositions moves the consumer of every partition the thread owns to the offset
// committed for it on the group coordinator, waiting for pending transactional
// commits (RequireStable): the client's own record of its commits is wrong when a
// commit it saw fail went through.
func (t *thread) resetPositions() error {
	topics := map[string]bool{}
	for tp := range t.partitions() {
		topics[tp.Topic] = true
	}
	if len(topics) == 0 {
		return nil
	}
	ctx := kadm.RequireStable(t.io)
	for {
		fetched, err := t.rest.adm.FetchOffsetsForTopics(ctx, t.app.cfg.ApplicationID, slices.Sorted(maps.Keys(topics))...)
		if err == nil {
			err = fetched.Error()
		}
		if errors.Is(err, kerr.UnstableOffsetCommit) {
			if !sleepCtx(t.ctx, minRecoveryBackoff) {
				return t.ctx.Err()
			}
			continue
		}
		if err != nil {
			return &txnError{op: "fetch committed offsets", err: err}
		}
		set := map[string]map[int32]kgo.EpochOffset{}
		clear(t.txn.committed)
		for tp := range t.partitions() {
			o, ok := fetched.Lookup(tp.Topic, tp.Partition)
			if !ok || o.At < 0 {
				continue // nothing committed: the reset policy applies, as it did
			}
			if set[tp.Topic] == nil {
				set[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.At}
			t.txn.committed[tp] = o.At
		}
		t.cl.SetOffsets(set)
		return nil
	}
}

// partitions returns the input partitions of the thread's tasks, running or waiting
// to be created.
func (t *thread) partitions() map[TopicPartition]bool {
	out := map[TopicPartition]bool{}
	for tp := range t.byTP {
		out[tp] = true
	}
	for _, parts := range t.pending {
		for _, tp := range parts {
			out[tp] = true
		}
	}
	return out
}

// commitEOS commits tasks in the open transaction: their stores flush into it, the
// transaction commits with their input offsets, then the stores commit. A
// transaction that aborts rewinds the thread.
func (t *thread) commitEOS(ids []TaskID) error {
	if err := t.txn.begin(); err != nil {
		return err
	}
	offsets := map[TopicPartition]int64{}
	tasks := make([]*Task, 0, len(ids))
	for _, id := range ids {
		task := t.tasks[id].task
		offs, err := task.flushStores()
		if err != nil {
			return err
		}
		maps.Copy(offsets, offs)
		tasks = append(tasks, task)
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
		return t.resetPositions()
	}
	return commitStores(tasks, t.prod)
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
