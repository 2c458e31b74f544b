package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/eddy-io/eddy/state"
)

// GlobalTaskConfig configures the task that keeps an instance's global stores.
type GlobalTaskConfig struct {
	// ApplicationID is the application's ID.
	ApplicationID string
	// Stores opens persistent global stores.
	Stores state.Provider
	// MemoryStores opens in-memory global stores; nil gives the task its own provider.
	MemoryStores state.Provider
	// Now returns wall-clock time in milliseconds; nil is the system clock.
	Now func() int64
	// Logger receives warnings about skipped records; nil discards them.
	Logger *slog.Logger
	// OnDeserializationError and OnProcessingError handle failed records; nil is
	// FailOnError.
	OnDeserializationError ErrorHandler
	OnProcessingError      ErrorHandler
}

// globalStoreTask names the global stores' engines in their providers.
const globalStoreTask = "global"

// GlobalTask feeds every global store of a topology from all partitions of its source
// topics, on every instance. Records are processed in the order given, with no
// timestamp ordering, as Kafka Streams' global thread does; the source topic is the
// store's changelog, so the stores are not logged and commit with the source offsets.
// Processors of other tasks read the stores through TaskConfig.Globals.
type GlobalTask struct {
	task    *Task
	sources map[string]rawSource
	nodes   map[string]*node
	offsets map[TopicPartition]int64
}

// NewGlobalTask builds the global stores of top and their processors, calling Init.
// A topology without global stores gives a task with nothing to do.
func NewGlobalTask(top *Topology, cfg GlobalTaskConfig) (*GlobalTask, error) {
	if err := top.Validate(); err != nil {
		return nil, err
	}
	t := newTaskShell(top, TaskConfig{
		ApplicationID:          cfg.ApplicationID,
		ID:                     TaskID{Subtopology: -1, Partition: -1},
		Stores:                 cfg.Stores,
		MemoryStores:           cfg.MemoryStores,
		Output:                 RecordCollectorFunc(func(ProducedRecord) error { return errors.New("global store processors cannot forward") }),
		Now:                    cfg.Now,
		Logger:                 cfg.Logger,
		OnDeserializationError: cfg.OnDeserializationError,
		OnProcessingError:      cfg.OnProcessingError,
	})
	t.global = true
	gt := &GlobalTask{task: t, sources: map[string]rawSource{}, nodes: map[string]*node{}, offsets: map[TopicPartition]int64{}}
	for _, g := range top.groups() {
		if !g.global {
			continue
		}
		first := len(t.nodes)
		if err := t.build(g); err != nil {
			return nil, errors.Join(err, t.Close())
		}
		for i, n := range g.nodes {
			if n.kind == kindSource {
				for _, topic := range n.topics {
					gt.sources[topic] = t.nodes[first+i].(rawSource)
					gt.nodes[topic] = n
				}
			}
		}
	}
	if err := t.initNodes(); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return gt, nil
}

// Process feeds records to the global stores in order. Records of topics that feed no
// global store are an error.
func (g *GlobalTask) Process(records []ConsumedRecord) error {
	t := g.task
	if t.closed {
		return ErrTaskClosed
	}
	for i := range records {
		rec := &records[i]
		src, ok := g.sources[rec.Topic]
		if !ok {
			return fmt.Errorf("%w: topic %q feeds no global store", ErrUnknownPartition, rec.Topic)
		}
		tp := TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
		ts := rec.Timestamp
		if ex := g.nodes[rec.Topic].timestamps; ex != nil {
			ts = ex(rec.Topic, rec.Partition, rec.Key, rec.Value, rec.Timestamp, t.streamTime)
		}
		if ts < 0 {
			t.counters.badTimestamp.Add(1)
			g.offsets[tp] = rec.Offset + 1
			continue
		}
		t.streamTime = max(t.streamTime, ts)
		t.meta, t.hasMeta, t.curTime = RecordMetadata{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}, true, ts
		decodeErr, procErr := src.decodeAndForward(rec, ts)
		t.hasMeta = false
		switch {
		case decodeErr != nil:
			if err := t.handle(t.cfg.OnDeserializationError, ErrorContext{TaskID: t.id, Record: rec}, decodeErr, &t.counters.badDecode); err != nil {
				return err
			}
		case procErr != nil:
			if err := t.handle(t.cfg.OnProcessingError, ErrorContext{TaskID: t.id, Record: rec}, fmt.Errorf("%w: %w", ErrProcessing, procErr), &t.counters.badProcess); err != nil {
				return err
			}
		default:
			t.counters.processed.Add(1)
		}
		g.offsets[tp] = rec.Offset + 1
	}
	return nil
}

// Store returns global store name; GetStore gives it typed.
func (g *GlobalTask) Store(name string) (any, error) {
	if s, ok := g.task.storeByName[name]; ok {
		return s.store, nil
	}
	return nil, fmt.Errorf("%w: no global store %q", ErrUnknownStore, name)
}

// Commit flushes and commits the global stores with the source offsets they reflect
// and returns those offsets, the next to read per partition.
func (g *GlobalTask) Commit() (map[TopicPartition]int64, error) {
	t := g.task
	if t.closed {
		return nil, ErrTaskClosed
	}
	offsets := make(map[string]int64, len(g.offsets))
	for tp, off := range g.offsets {
		offsets[tp.String()] = off
	}
	for _, s := range t.stores {
		if err := s.store.Commit(maps.Clone(offsets)); err != nil {
			return nil, fmt.Errorf("runtime: global task: commit: %w", err)
		}
	}
	return maps.Clone(g.offsets), nil
}

// Metrics returns the global task's counters.
func (g *GlobalTask) Metrics() TaskMetrics { return g.task.Metrics() }

// Close closes the processors and the stores without committing.
func (g *GlobalTask) Close() error { return g.task.Close() }
