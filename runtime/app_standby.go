package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/state"
)

// standbyRetry is how soon a standby whose stores are still held elsewhere (an active
// task of this instance closing) is tried again.
const standbyRetry = 100 * time.Millisecond

// standbys keeps this instance's standby tasks: copies of other instances' task
// state, kept warm by reading the tasks' changelog partitions with one client of its
// own (assigned partitions, not the consumer group) and applying the records to the
// stores' engines, committing the changelog offsets with them. A standby processes
// nothing and writes nothing to Kafka. The set comes from each assignment; a task
// leaving it (moved elsewhere, or made active here) is closed, so that an active task
// can open its stores and restore only what the standby had not applied yet.
type standbys struct {
	app  *App
	log  *slog.Logger
	opts []kgo.Opt // connection options
	adm  *kadm.Client
	ctx  context.Context // ends run, bounds admin requests

	mu      sync.Mutex
	want    map[TaskID]bool // the latest assignment's standbys for this instance
	running []TaskID        // the standbys open now, for the group leader
	changed chan struct{}
}

// standbyTask is one open standby with the offsets its engines reflect.
type standbyTask struct {
	id      TaskID
	targets map[TopicPartition]*restoreTarget
	next    map[TopicPartition]int64
}

func newStandbys(ctx context.Context, app *App, opts []kgo.Opt, adm *kadm.Client) *standbys {
	return &standbys{app: app, log: app.log.With("standbys", true), opts: opts, adm: adm, ctx: ctx, want: map[TaskID]bool{}, changed: make(chan struct{}, 1)}
}

// set replaces the standby tasks this instance should keep. Every thread of the
// instance receives the same set in one rebalance.
func (s *standbys) set(ids []TaskID) {
	want := make(map[TaskID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if maps.Equal(want, s.want) {
		return
	}
	s.want = want
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// current returns the standbys open now, in ID order.
func (s *standbys) current() []TaskID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.running)
}

// run keeps the standbys until the context given to newStandbys ends, then closes
// them. Failures are logged and retried: a standby is an optimisation, never a
// reason to stop the instance.
func (s *standbys) run() {
	ctx := s.ctx
	tasks := map[TaskID]*standbyTask{}
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
		for id, st := range tasks {
			s.release(st)
			delete(tasks, id)
		}
		s.publish(tasks)
	}()
	for ctx.Err() == nil {
		dirty, retry := s.reconcile(tasks)
		if dirty || (cl == nil && len(tasks) > 0) {
			if cl != nil {
				cl.Close()
				cl = nil
			}
			if len(tasks) > 0 {
				var err error
				if cl, err = kgo.NewClient(changelogReaderOpts(s.opts, standbyOffsets(tasks), s.app.cfg.ProcessingGuarantee == ExactlyOnce)...); err != nil {
					s.log.Warn("standby client", "err", err)
					retry = true
				}
			}
		}
		if cl == nil {
			wait := time.Hour
			if retry {
				wait = standbyRetry
			}
			select {
			case <-ctx.Done():
			case <-s.changed:
			case <-time.After(wait):
			}
			continue
		}
		pollCtx, cancel := context.WithTimeout(ctx, 2*standbyRetry)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		s.applyFetches(tasks, fetches)
	}
}

// reconcile closes the standbys no longer wanted and opens the new ones, reporting
// whether the partitions to read changed and whether some standby could not be
// opened yet.
func (s *standbys) reconcile(tasks map[TaskID]*standbyTask) (dirty, retry bool) {
	s.mu.Lock()
	want := maps.Clone(s.want)
	s.mu.Unlock()
	for id, st := range tasks {
		if !want[id] {
			s.release(st)
			delete(tasks, id)
			dirty = true
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(want), compareTaskIDs) {
		if tasks[id] != nil {
			continue
		}
		st, err := s.open(id)
		if err != nil {
			if !errors.Is(err, state.ErrInUse) {
				s.log.Warn("opening standby", "task", id.String(), "err", err)
			}
			retry = true
			continue
		}
		tasks[id] = st
		dirty = true
	}
	if dirty {
		s.publish(tasks)
	}
	return dirty, retry
}

// publish records the open standbys for the member info.
func (s *standbys) publish(tasks map[TaskID]*standbyTask) {
	ids := slices.SortedFunc(maps.Keys(tasks), compareTaskIDs)
	s.mu.Lock()
	s.running = ids
	s.mu.Unlock()
}

// open opens the stores of standby id and finds where each engine stands. An engine
// ahead of its changelog (a recreated topic) is emptied and starts over, as a restore
// would.
func (s *standbys) open(id TaskID) (*standbyTask, error) {
	targets, err := s.app.openLogged(id)
	if err != nil {
		return nil, err
	}
	st := &standbyTask{id: id, targets: map[TopicPartition]*restoreTarget{}, next: map[TopicPartition]int64{}}
	if err := s.position(st, targets); err != nil {
		return nil, errors.Join(err, closeTargets(targets))
	}
	s.log.Info("standby started", "task", id.String())
	return st, nil
}

// position fills in where each of targets resumes reading its changelog.
func (s *standbys) position(st *standbyTask, targets []restoreTarget) error {
	topics := make([]string, 0, len(targets))
	for _, tg := range targets {
		topics = append(topics, tg.changelog.Topic)
	}
	ends, err := s.adm.ListEndOffsets(s.ctx, topics...)
	if err != nil {
		return fmt.Errorf("list end offsets of changelogs: %w", err)
	}
	for i := range targets {
		tg := &targets[i]
		tp := tg.changelog
		st.targets[tp] = tg
		committed, err := tg.engine.CommittedOffsets()
		if err != nil {
			return err
		}
		off, ok := committed[tp.String()]
		if !ok {
			st.next[tp] = -1 // from the start of the log
			continue
		}
		end, err := lookupOffset(ends, tp)
		if err != nil {
			return err
		}
		if off > end {
			s.log.Warn("standby state is ahead of its changelog; starting over", "task", st.id.String(), "store", tg.store, "local", off, "end", end)
			if err := tg.engine.DeletePrefix(nil); err != nil {
				return err
			}
			off = -1
		}
		st.next[tp] = off
	}
	return nil
}

// release closes standby st's engines; their committed offsets stay for whoever opens
// them next.
func (s *standbys) release(st *standbyTask) {
	for _, tg := range st.targets {
		if err := tg.engine.Close(); err != nil {
			s.log.Warn("closing standby store", "task", st.id.String(), "store", tg.store, "err", err)
		}
	}
	s.log.Info("standby closed", "task", st.id.String())
}

// standbyOffsets is where the standbys' client starts reading each changelog.
func standbyOffsets(tasks map[TaskID]*standbyTask) map[string]map[int32]kgo.Offset {
	out := map[string]map[int32]kgo.Offset{}
	for _, st := range tasks {
		for tp, next := range st.next {
			if out[tp.Topic] == nil {
				out[tp.Topic] = map[int32]kgo.Offset{}
			}
			off := kgo.NewOffset().AtStart()
			if next >= 0 {
				off = kgo.NewOffset().At(next)
			}
			out[tp.Topic][tp.Partition] = off
		}
	}
	return out
}

// applyFetches applies what one poll read to the standbys' engines, one batch per
// partition committed with the offset after its last record. A standby whose engine
// fails is closed; the next round opens it again from what it committed.
func (s *standbys) applyFetches(tasks map[TaskID]*standbyTask, fetches kgo.Fetches) {
	byTP := map[TopicPartition]*standbyTask{}
	for _, st := range tasks {
		for tp := range st.targets {
			byTP[tp] = st
		}
	}
	fetches.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
			s.log.Warn("standby fetch error", "topic", topic, "partition", p, "err", err)
		}
	})
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		tp := TopicPartition{Topic: p.Topic, Partition: p.Partition}
		st := byTP[tp]
		if st == nil || tasks[st.id] != st || len(p.Records) == 0 {
			return
		}
		batch := make([]state.KV, 0, len(p.Records))
		for _, r := range p.Records {
			if !isControl(r) {
				batch = append(batch, state.KV{Key: r.Key, Value: r.Value})
			}
		}
		next := p.Records[len(p.Records)-1].Offset + 1
		tg := st.targets[tp]
		if len(batch) == 0 {
			// Only transaction markers: nothing worth a commit of the engine.
			st.next[tp] = next
			return
		}
		if err := apply(tg.engine, batch, map[string]int64{tp.String(): next}); err != nil {
			s.log.Warn("standby apply failed; reopening it", "task", st.id.String(), "store", tg.store, "err", err)
			s.release(st)
			delete(tasks, st.id)
			return
		}
		st.next[tp] = next
	})
}
