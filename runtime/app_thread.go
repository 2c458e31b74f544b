package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/state"
)

// maxPollRecords bounds the records one poll hands a thread.
const maxPollRecords = 5000

// maxPollWait is the longest a thread waits in a poll, so wall-clock punctuators and
// commits stay on time when no record arrives.
const maxPollWait = 100 * time.Millisecond

// thread is one stream thread: a consumer group member with its own kgo client (which
// also produces), running the tasks the group balancer gave it.
//
// Rebalances are eager and blocked while the thread works on a poll
// (BlockRebalanceOnPoll), so the group callbacks, which run on the client's goroutine,
// never overlap the loop's work; mu still orders them for the memory model. A revoke
// commits the tasks and suspends them, keeping their state open; the next assignment
// resumes the ones that come back and closes the others. Under exactly-once (txn is
// set, see app_eos.go) rebalances wait for the open transaction to end, and a revoke
// closes the tasks, which the next assignment creates again from their stores.
type thread struct {
	app  *App
	name string
	log  *slog.Logger
	cl   *kgo.Client
	prod *producer
	txn  *txn // nil at least once
	rest *restorer
	ctx  context.Context // stops the loop and restores
	io   context.Context // bounds commits and flushes, outliving ctx until Close gives up

	commitLatency prometheus.Observer

	mu         sync.Mutex
	tasks      map[TaskID]*appTask
	byTP       map[TopicPartition]*appTask
	suspended  map[TaskID]*appTask
	pending    map[TaskID][]TopicPartition // assigned, task not created yet
	held       map[TopicPartition][]ConsumedRecord
	paused     map[TopicPartition]bool
	lags       map[TopicPartition]*partitionLag
	lastCommit time.Time
	// restoreFailing is when restores began failing to read the brokers, zero
	// while they succeed.
	restoreFailing time.Time
}

// appTask is a running task and its metrics.
type appTask struct {
	task    *Task
	metrics *taskMetrics
}

// newThread makes the stream thread of index (from 1).
func newThread(app *App, index int, ctx, io context.Context, base []kgo.Opt, adm *kadm.Client) (*thread, error) {
	if err := app.cfg.metrics.register(); err != nil {
		return nil, err
	}
	name := app.cfg.ApplicationID + "-" + strconv.Itoa(index)
	t := &thread{
		commitLatency: app.cfg.metrics.commitObserver(name),
		lastCommit:    time.Now(),
		app:           app,
		name:          name,
		log:           app.cfg.Logger.With("thread", name),
		ctx:           ctx,
		io:            io,
		tasks:         map[TaskID]*appTask{},
		byTP:          map[TopicPartition]*appTask{},
		suspended:     map[TaskID]*appTask{},
		pending:       map[TaskID][]TopicPartition{},
		held:          map[TopicPartition][]ConsumedRecord{},
		paused:        map[TopicPartition]bool{},
		lags:          map[TopicPartition]*partitionLag{},
	}
	reset := kgo.NewOffset().AtStart()
	if app.cfg.OffsetReset == OffsetResetLatest {
		reset = kgo.NewOffset().AtEnd()
	}
	bal := &taskBalancer{plan: app.plan, info: app.memberInfo, standbys: app.cfg.StandbyReplicas}
	eos := app.cfg.ProcessingGuarantee == ExactlyOnce
	var before, after []kgo.Opt
	txnID := transactionalID(app.cfg.ApplicationID, app.processID, index)
	if eos {
		before, after = txnOpts(txnID)
	}
	opts := append(append(before, base...),
		kgo.ConsumerGroup(app.cfg.ApplicationID),
		kgo.ConsumeTopics(app.plan.sources...),
		kgo.Balancers(bal),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMaxWait(500*time.Millisecond),
		// Transaction markers take offsets: route needs them to tell a partition
		// read to its end from one with records still to fetch.
		kgo.KeepControlRecords(),
		kgo.OnPartitionsAssigned(t.onAssigned),
		kgo.OnPartitionsRevoked(t.onRevoked),
		kgo.OnPartitionsLost(t.onLost),
		kgo.RecordPartitioner(taskPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	opts = append(opts, after...)
	// The group callbacks may run as soon as the client exists: they wait for the
	// thread to be complete.
	t.mu.Lock()
	defer t.mu.Unlock()
	var sess *kgo.GroupTransactSession
	var err error
	if eos {
		if sess, err = kgo.NewGroupTransactSession(opts...); err == nil {
			t.cl = sess.Client()
		}
	} else {
		t.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: thread %s: %w", name, err)
	}
	t.prod = newProducer(io, t.cl, app.cfg.OnProductionError, t.log)
	if eos {
		t.txn = newTxn(sess, txnID, t.prod, t.log)
	}
	t.rest = &restorer{ctx: ctx, opts: base, adm: adm, listener: app.cfg.RestoreListener, log: t.log, readCommitted: eos}
	return t, nil
}

// run polls and processes until ctx ends (then commits, closes its tasks and leaves
// the group) or a task fails (then closes its tasks without committing).
func (t *thread) run() (err error) {
	defer func() {
		t.shutdown(err == nil)
		t.cl.CloseAllowingRebalance()
		err = fencedError(err)
	}()
	if t.txn != nil {
		if err := t.txn.init(t.ctx); err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	for t.ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(t.ctx, t.pollWait())
		fetches := t.cl.PollRecords(pollCtx, maxPollRecords)
		cancel()
		err := t.iterate(fetches)
		if err != nil && t.txn != nil && t.recoverable(err) && t.ctx.Err() == nil {
			err = t.recoverTxn(err)
		}
		if t.txn == nil || !t.txn.open {
			t.cl.AllowRebalance()
		}
		if err != nil {
			if t.ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil // a restore cut short by shutdown
			}
			return err
		}
	}
	return nil
}

// pollWait is how long the next poll may wait: until the next commit is due, at
// most maxPollWait.
func (t *thread) pollWait() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(min(maxPollWait, time.Until(t.lastCommit.Add(t.app.cfg.CommitInterval))), time.Millisecond)
}

// iterate does one round of work on what a poll returned.
func (t *thread) iterate(fetches kgo.Fetches) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.txn != nil {
		drop, err := t.afterRebalance()
		if err != nil {
			return err
		}
		if drop {
			fetches = nil
		}
		// Restoring may take long: end the open transaction first, so it cannot
		// outlive its timeout.
		if len(t.pending) > 0 && t.txn.open {
			if err := t.commit(t.taskIDs()); err != nil {
				return err
			}
		}
	}
	if err := t.createTasks(); err != nil {
		return err
	}
	if t.txn != nil {
		if err := t.txn.begin(); err != nil {
			return err
		}
	}
	fetches.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
			t.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		}
	})
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		tp := TopicPartition{Topic: p.Topic, Partition: p.Partition}
		end := t.fetchEnd(p.FetchPartition)
		if at := t.byTP[tp]; at != nil {
			at.task.SetEndOffset(tp, end)
		}
		if len(p.Records) > 0 {
			t.route(tp, p.Records)
		}
		if p.Err == nil {
			t.updateLag(tp, p.Records, end)
		}
	})
	for _, id := range t.taskIDs() {
		at := t.tasks[id]
		if err := t.process(at); err != nil {
			return err
		}
		if err := at.task.PunctuateWallClock(time.Now().UnixMilli()); err != nil {
			return err
		}
	}
	t.flowControl()
	if err := t.prod.failed(); err != nil {
		return err
	}
	if time.Since(t.lastCommit) >= t.app.cfg.CommitInterval {
		return t.commit(t.taskIDs())
	}
	return nil
}

// process processes what at has queued, timing each record when metrics are
// registered.
func (t *thread) process(at *appTask) error {
	latency := at.metrics.latency
	if latency == nil {
		for {
			if ok, err := at.task.Process(); err != nil || !ok {
				return err
			}
		}
	}
	start := time.Now()
	for {
		ok, err := at.task.Process()
		if err != nil || !ok {
			return err
		}
		now := time.Now()
		latency.Observe(now.Sub(start).Seconds())
		start = now
	}
}

// fetchEnd returns the offset a fetch of a partition says its records end at, -1
// after an error: the high watermark, or under read_committed the last stable
// offset, since the consumer is never given records beyond it.
func (t *thread) fetchEnd(p kgo.FetchPartition) int64 {
	switch {
	case p.Err != nil:
		return -1
	case t.txn != nil:
		return p.LastStableOffset
	default:
		return p.HighWatermark
	}
}

// updateLag sets the lag of tp from a fetch of it that brought recs: end (see
// fetchEnd) less the position after the last record fetched, transaction markers
// included. A partition fetched without records keeps the position of its last fetch
// with records.
func (t *thread) updateLag(tp TopicPartition, recs []*kgo.Record, end int64) {
	l := t.lags[tp]
	if l == nil {
		l = t.app.cfg.metrics.partitionLag(t.name, tp)
		t.lags[tp] = l
	}
	if n := len(recs); n > 0 {
		l.next = recs[n-1].Offset + 1
	}
	if l.next >= 0 {
		l.gauge.Set(float64(max(end-l.next, 0)))
	}
}

// dropLag removes the lag series of tp, which the thread no longer fetches.
func (t *thread) dropLag(tp TopicPartition) {
	if _, ok := t.lags[tp]; ok {
		delete(t.lags, tp)
		t.app.cfg.metrics.deleteLag(t.name, tp)
	}
}

// route hands records to the task owning their partition, or holds them while that
// task waits to be created. Transaction markers are not records to process: the task
// only learns that its partition was read past them.
func (t *thread) route(tp TopicPartition, recs []*kgo.Record) {
	batch := make([]ConsumedRecord, 0, len(recs))
	for _, r := range recs {
		if r.Attrs.IsControl() {
			continue
		}
		cr := ConsumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
		if len(r.Headers) > 0 {
			cr.Headers = make([]Header, len(r.Headers))
			for j, h := range r.Headers {
				cr.Headers[j] = Header{Key: h.Key, Value: h.Value}
			}
		}
		batch = append(batch, cr)
	}
	if at := t.byTP[tp]; at != nil {
		at.task.Add(batch)
		at.task.fetchedTo(tp, recs[len(recs)-1].Offset+1)
		return
	}
	if len(batch) == 0 {
		return
	}
	if _, ok := t.pending[t.taskOf(tp)]; ok {
		t.held[tp] = append(t.held[tp], batch...)
		return
	}
	t.log.Warn("dropping records of a partition this thread does not own", "partition", tp.String(), "records", len(batch))
}

// taskOf returns the task reading tp.
func (t *thread) taskOf(tp TopicPartition) TaskID {
	return TaskID{Subtopology: t.app.plan.readers[tp.Topic], Partition: tp.Partition}
}

// taskIDs returns the running tasks in ID order.
func (t *thread) taskIDs() []TaskID {
	return slices.SortedFunc(maps.Keys(t.tasks), compareTaskIDs)
}

// flowControl pauses partitions whose queue (or hold) is full and resumes them once
// half drained, so memory stays bounded when a task cannot keep up or waits.
func (t *thread) flowControl() {
	limit := t.app.cfg.MaxBufferedPerPartition
	buffered := func(tp TopicPartition) int {
		if at := t.byTP[tp]; at != nil {
			return at.task.Buffered(tp)
		}
		return len(t.held[tp])
	}
	pause, resume := map[string][]int32{}, map[string][]int32{}
	check := func(tp TopicPartition) {
		n := buffered(tp)
		switch {
		case !t.paused[tp] && n >= limit:
			t.paused[tp] = true
			pause[tp.Topic] = append(pause[tp.Topic], tp.Partition)
		case t.paused[tp] && n < limit/2:
			delete(t.paused, tp)
			resume[tp.Topic] = append(resume[tp.Topic], tp.Partition)
		}
	}
	for tp := range t.byTP {
		check(tp)
	}
	for tp := range t.held {
		check(tp)
	}
	if len(pause) > 0 {
		t.cl.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		t.cl.ResumeFetchPartitions(resume)
	}
}

// createTasks starts the tasks of the last assignment: suspended ones resume, the
// others are created and restored. Suspended tasks not assigned again are closed
// first, which frees their stores for other threads of this instance. A store still
// open in another thread (which has not yet closed its suspended copy) keeps its task
// pending until a later round.
func (t *thread) createTasks() error {
	if len(t.pending) == 0 && len(t.suspended) == 0 {
		return nil
	}
	for id, at := range t.suspended {
		if _, ok := t.pending[id]; !ok {
			delete(t.suspended, id)
			t.closeTask(at, "closing a task that moved away")
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(t.pending), compareTaskIDs) {
		parts := t.pending[id]
		at := t.suspended[id]
		if at != nil && slices.Equal(at.task.Partitions(), parts) {
			delete(t.suspended, id)
		} else {
			if at != nil {
				delete(t.suspended, id)
				t.closeTask(at, "closing a task whose partitions changed")
			}
			var err error
			if at, err = t.newTask(id, parts); err != nil {
				if errors.Is(err, errStoreBusy) {
					t.log.Debug("task state still open in another thread; retrying", "task", id.String())
					continue
				}
				if t.retryRestore(err) {
					t.log.Warn("restoring a task failed; retrying", "task", id.String(), "err", err)
					continue
				}
				return err
			}
			t.restoreFailing = time.Time{}
		}
		delete(t.pending, id)
		t.tasks[id] = at
		for _, tp := range parts {
			t.byTP[tp] = at
			if recs := t.held[tp]; len(recs) > 0 {
				at.task.Add(recs)
			}
			delete(t.held, tp)
		}
	}
	if len(t.pending) == 0 {
		t.app.threadRebalancing(t.name, false)
	}
	return nil
}

// retryRestore reports whether a task whose restore failed with err should stay
// pending, to be restored again in a later round: the brokers could not be read, for
// less than recoveryTimeout.
func (t *thread) retryRestore(err error) bool {
	var ioErr *restoreIOError
	if !errors.As(err, &ioErr) || !transient(err) || t.ctx.Err() != nil {
		return false
	}
	if t.restoreFailing.IsZero() {
		t.restoreFailing = time.Now()
	}
	return time.Since(t.restoreFailing) < recoveryTimeout
}

// errStoreBusy marks a task that cannot be created yet because another thread of
// this instance still holds one of its stores.
var errStoreBusy = errors.New("runtime: task state in use by another thread")

// newTask restores the logged stores of task id, all changelog partitions at once,
// then creates the task over parts with those engines.
func (t *thread) newTask(id TaskID, parts []TopicPartition) (*appTask, error) {
	cfg := t.app.cfg
	targets, err := t.app.openLogged(id)
	if err != nil {
		if errors.Is(err, state.ErrInUse) {
			return nil, fmt.Errorf("%w: %w", errStoreBusy, err)
		}
		return nil, err
	}
	at := &appTask{metrics: cfg.metrics.newTask(t.name, id)}
	if err := t.rest.restoreTask(targets, at.metrics); err != nil {
		at.metrics.close()
		return nil, errors.Join(fmt.Errorf("runtime: task %s: restore: %w", id, err), closeTargets(targets))
	}
	persistent := newHandoff(t.app.persistent, id, targets, true)
	memory := newHandoff(t.app.memory, id, targets, false)
	task, err := NewTask(t.app.top, TaskConfig{
		ApplicationID:           cfg.ApplicationID,
		ID:                      id,
		Partitions:              parts,
		Stores:                  persistent,
		MemoryStores:            memory,
		Output:                  taskOutput{producer: t.prod, dropped: &at.metrics.productionDropped},
		PartitionCount:          t.app.counts.count,
		MaxBufferedPerPartition: cfg.MaxBufferedPerPartition,
		MaxTaskIdle:             cfg.MaxTaskIdle,
		Logger:                  t.log,
		OnDeserializationError:  cfg.OnDeserializationError,
		OnProcessingError:       cfg.OnProcessingError,
	})
	if cerr := errors.Join(persistent.closeUnclaimed(), memory.closeUnclaimed()); cerr != nil {
		t.log.Warn("closing restored engines the task did not take", "task", id.String(), "err", cerr)
	}
	if err != nil {
		at.metrics.close()
		if errors.Is(err, state.ErrInUse) {
			return nil, fmt.Errorf("%w: %w", errStoreBusy, err)
		}
		return nil, err
	}
	at.task = task
	at.metrics.start(task)
	t.log.Info("task started", "task", id.String())
	return at, nil
}

// commit commits tasks: their stores flush (sending changelog records), the producer
// flushes, the stores commit, and then the input offsets are committed. A commit the
// group refuses (a rebalance fenced this member) is logged, not fatal: at least once,
// the records will be processed again.
func (t *thread) commit(ids []TaskID) error {
	t.lastCommit = time.Now()
	if len(ids) > 0 {
		defer func(start time.Time) { t.commitLatency.Observe(time.Since(start).Seconds()) }(t.lastCommit)
	}
	if t.txn != nil {
		return t.commitEOS(ids)
	}
	if len(ids) == 0 {
		return nil
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	tasks := make([]*Task, 0, len(ids))
	for _, id := range ids {
		task := t.tasks[id].task
		offs, err := task.flushStores()
		if err != nil {
			return err
		}
		for tp, off := range offs {
			if offsets[tp.Topic] == nil {
				offsets[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
		tasks = append(tasks, task)
	}
	if err := t.prod.Flush(); err != nil {
		return err
	}
	if err := commitStores(tasks, t.prod); err != nil {
		return err
	}
	if len(offsets) > 0 {
		var cerr error
		t.cl.CommitOffsetsSync(t.io, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			if resp == nil {
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					cerr = errors.Join(cerr, kerr.ErrorForCode(rp.ErrorCode))
				}
			}
		})
		if cerr != nil {
			t.log.Warn("offset commit failed; records since the last commit will be processed again", "err", cerr)
		}
	}
	return nil
}

// onAssigned records the new assignment; the loop creates the tasks, since restoring
// must not hold up the group's protocol.
func (t *thread) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, parts := range assigned {
		for _, p := range parts {
			tp := TopicPartition{Topic: topic, Partition: p}
			id := t.taskOf(tp)
			t.pending[id] = append(t.pending[id], tp)
		}
	}
	for _, parts := range t.pending {
		slices.SortFunc(parts, compareTopicPartitions)
	}
	if t.txn != nil {
		t.txn.rebalanced = true
	}
	t.log.Info("partitions assigned", "tasks", len(t.pending))
	t.app.threadRebalancing(t.name, len(t.pending) > 0)
}

// onRevoked commits and suspends the tasks losing partitions (all of them, the
// protocol being eager).
func (t *thread) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.app.threadRebalancing(t.name, true)
	affected := map[TaskID]bool{}
	for topic, parts := range revoked {
		for _, p := range parts {
			tp := TopicPartition{Topic: topic, Partition: p}
			if at := t.byTP[tp]; at != nil {
				affected[at.task.ID()] = true
			}
			delete(t.pending, t.taskOf(tp))
			delete(t.held, tp)
			t.dropLag(tp)
		}
	}
	ids := slices.SortedFunc(maps.Keys(affected), compareTaskIDs)
	if t.txn != nil {
		// Nothing is uncommitted between transactions, but the task may run
		// elsewhere before it comes back: it is created again then, from its stores
		// and changelogs.
		t.txn.rebalanced = true
		for _, id := range ids {
			at := t.tasks[id]
			t.removeTask(id)
			t.closeTask(at, "closing task")
		}
		t.resumeAll()
		return
	}
	err := t.commit(ids)
	for _, id := range ids {
		at := t.tasks[id]
		t.removeTask(id)
		if err != nil {
			// The state may hold what the failed commit did not cover: start over
			// from the changelog and the committed offsets.
			t.closeTask(at, "closing task")
			continue
		}
		at.task.ClearBuffered()
		t.suspended[id] = at
	}
	if err != nil {
		t.log.Error("commit on revoke failed; tasks closed", "err", err)
	}
	t.resumeAll()
}

// onLost closes every task without committing: another member may own them already.
func (t *thread) onLost(_ context.Context, _ *kgo.Client, _ map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log.Warn("partitions lost; closing tasks without commit")
	if t.txn != nil {
		t.txn.rebalanced = true
	}
	t.app.threadRebalancing(t.name, true)
	t.closeAll()
	clear(t.pending)
	clear(t.held)
	for tp := range t.lags {
		t.dropLag(tp)
	}
	t.resumeAll()
}

// removeTask takes id off the running tasks.
func (t *thread) removeTask(id TaskID) {
	at := t.tasks[id]
	delete(t.tasks, id)
	for _, tp := range at.task.Partitions() {
		delete(t.byTP, tp)
	}
}

// closeTask closes at and removes its metrics, logging a failure with msg.
func (t *thread) closeTask(at *appTask, msg string) {
	at.metrics.close()
	if err := at.task.Close(); err != nil {
		t.log.Warn(msg, "task", at.task.ID().String(), "err", err)
	}
}

// closeAll closes the running and suspended tasks.
func (t *thread) closeAll() {
	for _, id := range t.taskIDs() {
		at := t.tasks[id]
		t.removeTask(id)
		t.closeTask(at, "closing task")
	}
	for id, at := range t.suspended {
		delete(t.suspended, id)
		t.closeTask(at, "closing task")
	}
}

// resumeAll resumes the partitions flow control paused: pauses outlive revocation.
func (t *thread) resumeAll() {
	if len(t.paused) == 0 {
		return
	}
	resume := map[string][]int32{}
	for tp := range t.paused {
		resume[tp.Topic] = append(resume[tp.Topic], tp.Partition)
	}
	clear(t.paused)
	t.cl.ResumeFetchPartitions(resume)
}

// shutdown commits the running tasks when graceful, then closes every task.
func (t *thread) shutdown(graceful bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if graceful {
		if err := t.commit(t.taskIDs()); err != nil {
			t.log.Error("final commit failed", "err", err)
		}
	}
	if t.txn != nil && t.txn.open {
		// A failure (or a failed final commit): nothing of the open transaction
		// may commit. A fenced producer cannot abort; its transaction is aborted
		// by whoever fenced it.
		if err := t.txn.abort(t.io); err != nil {
			t.log.Warn("aborting the open transaction", "err", err)
		}
	}
	t.closeAll()
}

// compareTopicPartitions orders partitions by topic, then number.
func compareTopicPartitions(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}
