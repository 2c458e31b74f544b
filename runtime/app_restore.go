package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/state"
)

// restoreBatch and restoreBatchBytes bound the records applied to a store at once
// while restoring: big batches keep the engine's commits few, and let Badger switch
// to its restore mode (a batch of a quarter memtable or more).
const (
	restoreBatch      = 200_000
	restoreBatchBytes = 8 << 20
)

// Fetch sizes of changelog readers (restore and standbys): a changelog is read from
// the start at full speed, not polled a little at a time as input is.
const (
	changelogFetchBytes          = 64 << 20
	changelogFetchPartitionBytes = 32 << 20
)

// changelogReaderOpts are the options of a client reading changelog partitions from
// offsets, on top of the connection options. Under exactly-once it reads committed
// records only and keeps the control records (transaction markers), so its readers
// see their offsets go by: a changelog partition may end with one, or with an
// aborted transaction whose last offset is a marker. Readers skip them (isControl).
func changelogReaderOpts(base []kgo.Opt, offsets map[string]map[int32]kgo.Offset, readCommitted bool) []kgo.Opt {
	opts := append(slices.Clone(base),
		kgo.ConsumePartitions(offsets),
		kgo.FetchMaxBytes(changelogFetchBytes),
		kgo.FetchMaxPartitionBytes(changelogFetchPartitionBytes),
		kgo.BrokerMaxReadBytes(2*changelogFetchBytes),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	}
	return opts
}

// isControl reports a transaction marker, which is no changelog write.
func isControl(r *kgo.Record) bool { return r.Attrs.IsControl() }

// restoreIOError is a restore that failed to read from the brokers, which a later
// attempt may not: the engines hold what was applied, with the offsets it reaches.
type restoreIOError struct{ err error }

func (e *restoreIOError) Error() string { return e.err.Error() }
func (e *restoreIOError) Unwrap() error { return e.err }

// restoreTarget is one logged store of a task with its engine, open while the task
// is restored or kept as a standby.
type restoreTarget struct {
	store      string
	changelog  TopicPartition
	engine     state.Engine
	persistent bool
}

// restorer loads stores from their changelogs when a thread creates a task.
type restorer struct {
	ctx      context.Context
	opts     []kgo.Opt // connection options of every client, without consuming
	adm      *kadm.Client
	listener RestoreListener
	log      *slog.Logger
	// readCommitted restores exactly-once changelogs: up to their last stable
	// offset, once no transaction is open on them (see stableEnds).
	readCommitted bool
}

// replaying is a store being restored: its offsets and progress.
type replaying struct {
	target     *restoreTarget
	start, end int64
	next       int64
	total      int64
	progress   restoreProgress
}

// restoreTask brings every target up to the end of its changelog partition, each
// starting after the offset its engine last committed (the whole log when it has
// none), reading all of the task's changelog partitions with one client. An engine
// ahead of its changelog (a recreated topic) is emptied and restored from the start.
func (r *restorer) restoreTask(targets []restoreTarget, m *taskMetrics) error {
	if len(targets) == 0 {
		return nil
	}
	topics := make([]string, 0, len(targets))
	for _, tg := range targets {
		topics = append(topics, tg.changelog.Topic)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	var ends kadm.ListedOffsets
	var err error
	if r.readCommitted {
		ends, err = r.stableEnds(targets, topics)
	} else {
		ends, err = r.adm.ListEndOffsets(r.ctx, topics...)
	}
	if err != nil {
		return &restoreIOError{fmt.Errorf("list end offsets of changelogs: %w", err)}
	}
	var starts kadm.ListedOffsets
	var work []*replaying
	for i := range targets {
		tg := &targets[i]
		tp := tg.changelog
		end, err := lookupOffset(ends, tp)
		if err != nil {
			return &restoreIOError{err}
		}
		committed, err := tg.engine.CommittedOffsets()
		if err != nil {
			return err
		}
		start, have := committed[tp.String()]
		if have && start > end {
			r.log.Warn("local state is ahead of its changelog; restoring from scratch", "store", tg.store, "changelog", tp.String(), "local", start, "end", end)
			if err := tg.engine.DeletePrefix(nil); err != nil {
				return err
			}
			have = false
		}
		if !have {
			if starts == nil {
				if starts, err = r.adm.ListStartOffsets(r.ctx, topics...); err != nil {
					return &restoreIOError{fmt.Errorf("list start offsets of changelogs: %w", err)}
				}
			}
			if start, err = lookupOffset(starts, tp); err != nil {
				return &restoreIOError{err}
			}
		}
		if start < end {
			work = append(work, &replaying{target: tg, start: start, end: end, next: start, progress: m.restoring(tg.store)})
		}
	}
	if len(work) == 0 {
		return nil
	}
	return r.replay(work)
}

// stableWait is how often stableEnds asks again while a transaction is open.
const stableWait = 100 * time.Millisecond

// stableEnds waits until no transaction is open on the changelog partitions of
// targets (their last stable offset equals their end) and returns their ends. A
// transaction open there belongs to a previous owner of the task: restoring before it
// ends could miss writes it is yet to commit, with the input offsets that go with
// them. A predecessor with this thread's transactional ID was fenced (and its
// transaction aborted) when the thread started; another instance's transaction ends
// when it commits, aborts or times out.
func (r *restorer) stableEnds(targets []restoreTarget, topics []string) (kadm.ListedOffsets, error) {
	for waited := false; ; waited = true {
		ends, err := r.adm.ListEndOffsets(r.ctx, topics...)
		if err != nil {
			return nil, err
		}
		stable, err := r.adm.ListCommittedOffsets(r.ctx, topics...)
		if err != nil {
			return nil, err
		}
		open := ""
		for _, tg := range targets {
			end, err := lookupOffset(ends, tg.changelog)
			if err != nil {
				return nil, err
			}
			lso, err := lookupOffset(stable, tg.changelog)
			if err != nil {
				return nil, err
			}
			if lso < end {
				open = tg.changelog.String()
			}
		}
		if open == "" {
			return stable, nil
		}
		if !waited {
			r.log.Info("waiting for an open transaction on a changelog to end before restoring", "changelog", open)
		}
		select {
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		case <-time.After(stableWait):
		}
	}
}

// lookupOffset finds tp in listed offsets.
func lookupOffset(offsets kadm.ListedOffsets, tp TopicPartition) (int64, error) {
	lo, ok := offsets.Lookup(tp.Topic, tp.Partition)
	if !ok {
		return 0, fmt.Errorf("list offsets of %s: no such partition", tp)
	}
	if lo.Err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", tp, lo.Err)
	}
	return lo.Offset, nil
}

// restoreChunk is a batch of one store's changelog records on its way to the engine.
type restoreChunk struct {
	w     *replaying
	batch []state.KV
	bytes int
	last  int64
}

// replay reads every partition of work from its start up to its end with one client
// and applies the records in batches. Fetching and applying overlap: a goroutine
// polls while this one writes to the engines.
func (r *restorer) replay(work []*replaying) error {
	offsets := map[string]map[int32]kgo.Offset{}
	byTP := make(map[TopicPartition]*replaying, len(work))
	for _, w := range work {
		tp := w.target.changelog
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int32]kgo.Offset{}
		}
		offsets[tp.Topic][tp.Partition] = kgo.NewOffset().At(w.start)
		byTP[tp] = w
		r.log.Info("restoring store", "store", w.target.store, "changelog", tp.String(), "from", w.start, "to", w.end)
		w.progress.remaining.Set(float64(w.end - w.start))
		if r.listener != nil {
			r.listener.OnRestoreStart(tp, w.target.store, w.start, w.end)
		}
	}
	cl, err := kgo.NewClient(changelogReaderOpts(r.opts, offsets, r.readCommitted)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	began := time.Now()

	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	chunks := make(chan restoreChunk, 4)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		fetchErr <- r.fetch(ctx, cl, byTP, chunks)
	}()
	var applyErr error
	for c := range chunks {
		if applyErr != nil {
			continue // drain so the fetcher can end
		}
		if applyErr = r.applyChunk(c); applyErr != nil {
			cancel()
		}
	}
	if err := errors.Join(applyErr, <-fetchErr); err != nil {
		return err
	}
	for _, tp := range slices.SortedFunc(maps.Keys(byTP), compareTopicPartitions) {
		w := byTP[tp]
		// The last records before end may be gone (compaction); the engine still
		// reflects everything up to end.
		if err := w.target.engine.Commit(map[string]int64{tp.String(): w.end}); err != nil {
			return err
		}
		w.progress.remaining.Set(0)
		r.log.Info("restored store", "store", w.target.store, "changelog", tp.String(), "records", w.total, "took", time.Since(began))
		if r.listener != nil {
			r.listener.OnRestoreEnd(tp, w.target.store, w.total)
		}
	}
	return nil
}

// fetch polls until every partition of byTP reached its end, gathering what it reads
// into chunks of restoreBatch records or restoreBatchBytes per store (the last chunk
// of a store may be smaller): the records up to end are known to exist, so waiting for a full chunk
// costs nothing.
func (r *restorer) fetch(ctx context.Context, cl *kgo.Client, byTP map[TopicPartition]*replaying, chunks chan<- restoreChunk) error {
	pending := len(byTP)
	fetched := make(map[TopicPartition]int64, len(byTP))
	acc := make(map[TopicPartition]*restoreChunk, len(byTP))
	for tp, w := range byTP {
		fetched[tp] = w.start
	}
	send := func(c *restoreChunk) error {
		select {
		case chunks <- *c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for pending > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return &restoreIOError{ferr}
		}
		var full []*restoreChunk
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			tp := TopicPartition{Topic: p.Topic, Partition: p.Partition}
			w := byTP[tp]
			if w == nil || fetched[tp] >= w.end || len(p.Records) == 0 {
				return
			}
			for _, rec := range p.Records {
				if rec.Offset >= w.end {
					break
				}
				if isControl(rec) {
					continue
				}
				c := acc[tp]
				if c == nil {
					c = &restoreChunk{w: w, batch: make([]state.KV, 0, int(min(restoreBatch/4, w.end-rec.Offset)))}
					acc[tp] = c
				}
				c.batch = append(c.batch, state.KV{Key: rec.Key, Value: rec.Value})
				c.bytes += len(rec.Key) + len(rec.Value)
				c.last = rec.Offset
				if len(c.batch) == restoreBatch || c.bytes >= restoreBatchBytes {
					full = append(full, c)
					delete(acc, tp)
				}
			}
			fetched[tp] = p.Records[len(p.Records)-1].Offset + 1
			if fetched[tp] >= w.end {
				pending--
				if c := acc[tp]; c != nil {
					full = append(full, c)
					delete(acc, tp)
				}
			}
		})
		for _, c := range full {
			if err := send(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyChunk writes one chunk to its engine with the offset it reaches.
func (r *restorer) applyChunk(c restoreChunk) error {
	w := c.w
	tp := w.target.changelog
	w.next = c.last + 1
	if err := apply(w.target.engine, c.batch, map[string]int64{tp.String(): w.next}); err != nil {
		return err
	}
	n := len(c.batch)
	w.total += int64(n)
	w.progress.restored.Add(float64(n))
	w.progress.remaining.Set(float64(w.end - w.next))
	if r.listener != nil {
		r.listener.OnBatchRestored(tp, w.target.store, c.last, n)
	}
	r.log.Debug("restored batch", "store", w.target.store, "changelog", tp.String(), "offset", c.last, "records", n, "remaining", w.end-w.next)
	return nil
}

// apply writes one restore batch and commits it with offsets, in bulk when the engine
// can.
func apply(engine state.Engine, batch []state.KV, offsets map[string]int64) error {
	if rs, ok := engine.(state.Restorer); ok {
		return rs.Restore(batch, offsets)
	}
	for _, kv := range batch {
		var err error
		if kv.Value == nil {
			err = engine.Delete(kv.Key)
		} else {
			err = engine.Put(kv.Key, kv.Value)
		}
		if err != nil {
			return err
		}
	}
	return engine.Commit(offsets)
}

// openLogged opens the engines of task id's logged stores, from the provider each
// store's builder asks for. It fails with state.ErrInUse while another thread of this
// instance, or the standby keeper, still holds one.
func (a *App) openLogged(id TaskID) ([]restoreTarget, error) {
	st := a.plan.subtopology(id.Subtopology)
	if st == nil {
		return nil, fmt.Errorf("runtime: no sub-topology %d", id.Subtopology)
	}
	var out []restoreTarget
	for _, name := range st.Stores {
		e := a.top.stores[name]
		if e == nil || !e.builder.Logged() {
			continue
		}
		provider := a.memory
		if e.builder.Persistent() {
			provider = a.persistent
		}
		engine, err := provider.Open(id.String(), name)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("runtime: task %s: open store %q: %w", id, name, err), closeTargets(out))
		}
		out = append(out, restoreTarget{
			store:      name,
			changelog:  TopicPartition{Topic: ChangelogTopic(a.cfg.ApplicationID, name), Partition: id.Partition},
			engine:     engine,
			persistent: e.builder.Persistent(),
		})
	}
	return out, nil
}

// closeTargets closes the engines of targets.
func closeTargets(targets []restoreTarget) error {
	var errs []error
	for _, tg := range targets {
		errs = append(errs, tg.engine.Close())
	}
	return errors.Join(errs...)
}

// handoff is a Provider that gives a task the engines restored for it before it was
// built, so they are not closed and opened again, and opens the others from the
// underlying provider.
type handoff struct {
	state.Provider
	task    string
	engines map[string]state.Engine
}

func newHandoff(p state.Provider, id TaskID, targets []restoreTarget, persistent bool) *handoff {
	h := &handoff{Provider: p, task: id.String(), engines: map[string]state.Engine{}}
	for _, tg := range targets {
		if tg.persistent == persistent {
			h.engines[tg.store] = tg.engine
		}
	}
	return h
}

func (h *handoff) Open(task, name string) (state.Engine, error) {
	if e, ok := h.engines[name]; ok && task == h.task {
		delete(h.engines, name)
		return e, nil
	}
	return h.Provider.Open(task, name)
}

// closeUnclaimed closes the engines the task did not take (it failed first).
func (h *handoff) closeUnclaimed() error {
	var errs []error
	for name, e := range h.engines {
		errs = append(errs, e.Close())
		delete(h.engines, name)
	}
	return errors.Join(errs...)
}
