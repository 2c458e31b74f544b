package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/state"
)

// restoreBatch is the most records applied to a store at once while restoring.
const restoreBatch = 10000

// restorer loads stores from their changelogs when a thread creates a task.
type restorer struct {
	ctx      context.Context
	opts     []kgo.Opt // connection options of every client, without consuming
	adm      *kadm.Client
	listener RestoreListener
	log      *slog.Logger
}

// restore brings engine up to the end of changelog tp, starting after the offset the
// engine last committed (the whole log when it has none), and returns the offset it
// reflects, reporting progress to m. An engine ahead of the changelog (a recreated
// topic) is emptied and restored from the start.
func (r *restorer) restore(store string, tp TopicPartition, engine state.Engine, m *taskMetrics) (int64, error) {
	committed, err := engine.CommittedOffsets()
	if err != nil {
		return 0, err
	}
	start, have := committed[tp.String()]
	end, err := r.offset(r.adm.ListEndOffsets, tp)
	if err != nil {
		return 0, err
	}
	if have && start > end {
		r.log.Warn("local state is ahead of its changelog; restoring from scratch", "store", store, "changelog", tp.String(), "local", start, "end", end)
		if err := engine.DeletePrefix(nil); err != nil {
			return 0, err
		}
		have = false
	}
	if !have {
		if start, err = r.offset(r.adm.ListStartOffsets, tp); err != nil {
			return 0, err
		}
	}
	if start >= end {
		return end, nil
	}
	return end, r.replay(store, tp, engine, start, end, m.restoring(store))
}

// offset looks up tp's offset with list (start or end offsets).
func (r *restorer) offset(list func(context.Context, ...string) (kadm.ListedOffsets, error), tp TopicPartition) (int64, error) {
	offsets, err := list(r.ctx, tp.Topic)
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", tp.Topic, err)
	}
	lo, ok := offsets.Lookup(tp.Topic, tp.Partition)
	if !ok {
		return 0, fmt.Errorf("list offsets of %s: no such partition", tp)
	}
	if lo.Err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", tp, lo.Err)
	}
	return lo.Offset, nil
}

// replay reads tp from start up to end and applies it to engine in batches.
func (r *restorer) replay(store string, tp TopicPartition, engine state.Engine, start, end int64, progress restoreProgress) error {
	opts := append(append([]kgo.Opt(nil), r.opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(start)}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	began := time.Now()
	r.log.Info("restoring store", "store", store, "changelog", tp.String(), "from", start, "to", end)
	progress.remaining.Set(float64(end - start))
	if r.listener != nil {
		r.listener.OnRestoreStart(tp, store, start, end)
	}
	var total int64
	batch := make([]state.KV, 0, 1024)
	for next := start; next < end; {
		fetches := cl.PollRecords(r.ctx, restoreBatch)
		if err := r.ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return ferr
		}
		batch = batch[:0]
		last := next - 1
		fetches.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end {
				return
			}
			batch = append(batch, state.KV{Key: rec.Key, Value: rec.Value})
			last = rec.Offset
		})
		if len(batch) == 0 {
			continue
		}
		next = last + 1
		if err := apply(engine, batch, map[string]int64{tp.String(): next}); err != nil {
			return err
		}
		total += int64(len(batch))
		progress.restored.Add(float64(len(batch)))
		progress.remaining.Set(float64(end - next))
		if r.listener != nil {
			r.listener.OnBatchRestored(tp, store, last, len(batch))
		}
		r.log.Debug("restored batch", "store", store, "changelog", tp.String(), "offset", last, "records", len(batch), "remaining", end-next)
	}
	// The last records before end may be gone (compaction); the engine still reflects
	// everything up to end.
	if err := engine.Commit(map[string]int64{tp.String(): end}); err != nil {
		return err
	}
	progress.remaining.Set(0)
	r.log.Info("restored store", "store", store, "changelog", tp.String(), "records", total, "took", time.Since(began))
	if r.listener != nil {
		r.listener.OnRestoreEnd(tp, store, total)
	}
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
