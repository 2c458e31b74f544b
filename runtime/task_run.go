package runtime

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Add queues records, each in its partition's queue in the order given. Records of
// partitions the task does not own are dropped, logged and counted
// (SkippedUnknownPartition).
func (t *Task) Add(records []ConsumedRecord) {
	if t.closed {
		return
	}
	for i := range records {
		r := &records[i]
		q := t.byPartition[TopicPartition{Topic: r.Topic, Partition: r.Partition}]
		if q == nil {
			t.counters.unknownPartition.Add(1)
			t.log.Error("record for a partition the task does not own", "task", t.id.String(), "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
			continue
		}
		t.seq++
		q.push(*r, t.seq)
		q.fetched = r.Offset + 1
	}
}

// fetchedTo tells the task that tp was read up to next, past offsets that held no
// record to process (transaction markers).
func (t *Task) fetchedTo(tp TopicPartition, next int64) {
	if q := t.byPartition[tp]; q != nil {
		q.fetched = max(q.fetched, next)
	}
}

// SetEndOffset tells the task where a fetch of tp said its records end (the high
// watermark, or the last stable offset for a read_committed consumer), so that next
// can tell an empty partition that is caught up from one whose records are on the
// broker but not fetched yet (Kafka's KIP-695). A negative end forgets what was
// known, as after a fetch error.
func (t *Task) SetEndOffset(tp TopicPartition, end int64) {
	q := t.byPartition[tp]
	if q == nil {
		return
	}
	t.fetching = true
	q.endOffset, q.endKnown = end, end >= 0
}

// Buffered returns the number of records queued for tp.
func (t *Task) Buffered(tp TopicPartition) int {
	if q := t.byPartition[tp]; q != nil {
		return q.len()
	}
	return 0
}

// ShouldPause reports whether tp's queue has reached MaxBufferedPerPartition, so the
// consumer should pause fetching it.
func (t *Task) ShouldPause(tp TopicPartition) bool {
	return t.Buffered(tp) >= t.cfg.MaxBufferedPerPartition
}

// ClearBuffered drops every queued record. The application calls it when a rebalance
// takes the task's partitions away for a while: it fetches them again from the
// committed offsets, which the dropped records lie after.
func (t *Task) ClearBuffered() {
	now := t.now()
	for _, q := range t.queues {
		for q.len() > 0 {
			q.pop()
		}
		// The partition is fetched again from its committed offset: what the last
		// fetches said about it no longer holds.
		q.fetched, q.endOffset, q.endKnown, q.emptySince = -1, 0, false, now
	}
}

// Metrics returns the task's counters.
func (t *Task) Metrics() TaskMetrics {
	c := &t.counters
	return TaskMetrics{
		Processed:               c.processed.Load(),
		SkippedInvalidTimestamp: c.badTimestamp.Load(),
		SkippedDeserialization:  c.badDecode.Load(),
		SkippedProcessing:       c.badProcess.Load(),
		SkippedUnknownPartition: c.unknownPartition.Load(),
		DroppedLate:             c.late.Load(),
		StreamTimePunctuations:  c.streamPunct.Load(),
		WallClockPunctuations:   c.wallPunct.Load(),
	}
}

// ensureHead extracts the timestamp of q's head, skipping records whose timestamp is
// negative, and reports whether q has a head.
func (t *Task) ensureHead(q *partitionQueue) bool {
	for q.len() > 0 {
		if q.headKnown {
			return true
		}
		r := &q.recs[q.head].rec
		ts := r.Timestamp
		if q.node.timestamps != nil {
			ts = q.node.timestamps(r.Topic, r.Partition, r.Key, r.Value, r.Timestamp, q.partitionTime)
		}
		if ts >= 0 {
			q.headTime, q.headKnown = ts, true
			return true
		}
		t.counters.badTimestamp.Add(1)
		t.log.Warn("skipping record with a negative timestamp", "task", t.id.String(), "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "timestamp", ts)
		q.nextOffset = r.Offset + 1
		q.pop()
		if q.len() == 0 && t.cfg.MaxTaskIdle >= 0 {
			q.emptySince = t.now()
		}
	}
	return false
}

// next returns the queue whose head comes next, or nil when nothing may be processed.
func (t *Task) next() *partitionQueue {
	var best *partitionQueue
	waiting := false
	for _, q := range t.queues {
		if !t.ensureHead(q) {
			if t.cfg.MaxTaskIdle >= 0 {
				waiting = waiting || t.idleWait(q)
			}
			continue
		}
		if best == nil || q.headTime < best.headTime || (q.headTime == best.headTime && q.recs[q.head].seq < best.recs[best.head].seq) {
			best = q
		}
	}
	if waiting {
		return nil
	}
	return best
}

// DefaultLagIdle is the least time a task waits, with an empty input partition that
// has records on the broker it has not fetched yet, before processing the others.
// Kafka waits as long as the lag is known, the data being sure to come; a bound keeps
// a gap the broker never fills (a partition whose fetches keep failing, an end offset
// no fetch will reach) from stalling the task. It is a few fetch rounds (FetchMaxWait is 500ms).
const DefaultLagIdle = 2 * time.Second

// idleWait reports whether an empty q should still hold the task back: for
// MaxTaskIdle when it is caught up, and for max(MaxTaskIdle, DefaultLagIdle) when its
// lag is known to be positive, or unknown while the task reads from a broker (its
// first fetch has not come back yet).
func (t *Task) idleWait(q *partitionQueue) bool {
	bound := t.cfg.MaxTaskIdle
	if t.lagging(q) {
		bound = max(bound, DefaultLagIdle)
	}
	return bound > 0 && t.now()-q.emptySince < bound.Milliseconds()
}

// lagging reports whether the empty q has records on the broker beyond what was
// fetched, or may have: a task reading from a broker counts a partition not fetched
// yet as lagging. A fetch that brought no records leaves the position unknown; the
// broker returns records when it has them, so the partition is caught up.
func (t *Task) lagging(q *partitionQueue) bool {
	if !q.endKnown {
		return t.fetching
	}
	pos := max(q.fetched, q.nextOffset)
	return pos >= 0 && q.endOffset > pos
}

// Process processes one record, the queued head with the smallest timestamp, then
// runs the stream-time punctuators that are due. It returns false when there is
// nothing to process (or the task waits for an empty partition, see idleWait). An error
// means a handler said fail: the failed record stays at the head of its queue, and the
// task should be closed without a commit.
func (t *Task) Process() (bool, error) {
	if t.closed {
		return false, ErrTaskClosed
	}
	q := t.next()
	if q == nil {
		return false, nil
	}
	ts := q.headTime
	// The record is processed in place and popped after, so it never escapes to the
	// heap: the per-record path allocates only what the serdes do.
	rec := &q.recs[q.head].rec
	q.partitionTime = max(q.partitionTime, ts)
	t.streamTime = max(t.streamTime, ts)
	t.meta = RecordMetadata{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
	t.hasMeta = true
	t.curTime = ts
	decodeErr, procErr := q.source.decodeAndForward(rec, ts)
	t.hasMeta = false
	var err error
	switch {
	case decodeErr != nil:
		err = t.handle(t.cfg.OnDeserializationError, ErrorContext{TaskID: t.id, Record: rec}, decodeErr, &t.counters.badDecode)
	case procErr != nil:
		ec := ErrorContext{TaskID: t.id, Record: rec}
		var ne *nodeError
		if errors.As(procErr, &ne) {
			ec.Node = ne.node
		}
		err = t.handle(t.cfg.OnProcessingError, ec, fmt.Errorf("%w: %w", ErrProcessing, procErr), &t.counters.badProcess)
	default:
		t.counters.processed.Add(1)
	}
	if err != nil {
		return true, err
	}
	q.nextOffset = rec.Offset + 1
	q.pop()
	if q.len() == 0 && t.cfg.MaxTaskIdle >= 0 {
		q.emptySince = t.now()
	}
	if err := t.punctuate(StreamTime, t.streamTime); err != nil {
		return true, err
	}
	return true, nil
}

// handle asks h about err; it returns err (with context) when h says fail and counts
// and logs the skip otherwise.
func (t *Task) handle(h ErrorHandler, ec ErrorContext, err error, skipped *atomic.Int64) error {
	where := "punctuation"
	if ec.Record != nil {
		where = TopicPartition{Topic: ec.Record.Topic, Partition: ec.Record.Partition}.String() + "@" + fmt.Sprint(ec.Record.Offset)
	}
	ec.Output = t.output
	if h(ec, err) != ActionContinue {
		return fmt.Errorf("runtime: task %s: %s: %w", t.id, where, err)
	}
	skipped.Add(1)
	t.log.Warn("skipping after error", "task", t.id.String(), "at", where, "node", ec.Node, "err", err)
	return nil
}

// PunctuateWallClock runs the wall-clock punctuators due at now (milliseconds).
func (t *Task) PunctuateWallClock(now int64) error {
	if t.closed {
		return ErrTaskClosed
	}
	return t.punctuate(WallClockTime, now)
}

// Commit flushes the stores' caches (their flush listeners forward downstream, and
// sinks and changelogs receive the records) in topological order, so that what one
// store's flush forwards into a processor writing another cached store is flushed
// too; commits each store with the changelog
// offsets it reflects (see OffsetCollector), and returns the offsets to commit for the
// input partitions: the last processed offset + 1 of each partition that has processed
// or skipped a record.
func (t *Task) Commit() (map[TopicPartition]int64, error) {
	out, err := t.flushStores()
	if err != nil {
		return nil, err
	}
	oc, _ := t.output.(OffsetCollector)
	if oc != nil {
		if err := oc.Flush(); err != nil {
			return nil, fmt.Errorf("runtime: task %s: flush output: %w", t.id, err)
		}
	}
	if err := commitStores([]*Task{t}, oc); err != nil {
		return nil, err
	}
	return out, nil
}

// Close closes the processors, then the stores without committing them. It is safe
// to call more than once.
func (t *Task) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for _, n := range t.nodes[:t.inited] {
		if ic, ok := n.(initCloser); ok {
			errs = append(errs, ic.close())
		}
	}
	for _, s := range t.stores {
		errs = append(errs, s.store.Close())
	}
	if t.ownMemory != nil {
		errs = append(errs, t.ownMemory.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: task %s: close: %w", t.id, err)
	}
	return nil
}
