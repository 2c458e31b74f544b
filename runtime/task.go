package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/eddy-io/eddy/state"
)

// UnknownTime is the stream time of a task that has processed no record, as in Kafka
// Streams.
const UnknownTime int64 = -1

// Task runs one sub-topology for one partition group: it owns a processor instance per
// node, the sub-topology's stores, and a queue per input partition. It does no Kafka
// I/O: records come in through Add, and sink output and changelog writes leave through
// the configured RecordCollector.
//
// Records are processed in timestamp order across partitions: Process always takes
// the queued head with the smallest timestamp, ties going to the record added first.
// Stream time is the largest timestamp processed. Stream-time punctuators fire after
// a record moves stream time past their next time, at most once per record, with the
// stream time as argument; their schedule is aligned to multiples of the interval from
// zero, and missed intervals are skipped (Kafka Streams' PunctuationSchedule).
// Wall-clock punctuators start at the scheduling time plus the interval and fire from
// PunctuateWallClock.
//
// A Task is used by one goroutine; only Metrics may be called from others.
type Task struct {
	top    *Topology
	cfg    TaskConfig
	id     TaskID
	appID  string
	output RecordCollector
	now    func() int64
	log    *slog.Logger
	global bool

	nodes       []builtNode
	inited      int // nodes whose Init has run, the ones Close closes
	queues      []*partitionQueue
	byPartition map[TopicPartition]*partitionQueue
	stores      []*taskStore
	storeByName map[string]*taskStore
	ownMemory   state.Provider

	streamTime int64
	meta       RecordMetadata
	hasMeta    bool
	curTime    int64 // timestamp of changelog records: the record's or punctuation's
	seq        uint64
	puncts     []*schedule
	punctSeq   uint64
	closed     bool
	fetching   bool // SetEndOffset has been called: the task reads from a broker

	counters taskCounters
}

// taskCounters are TaskMetrics, updated atomically so Metrics can be read anywhere.
type taskCounters struct {
	processed, badTimestamp, badDecode, badProcess, unknownPartition, late, streamPunct, wallPunct atomic.Int64
}

// taskStore is one store of a task with what its commit needs.
type taskStore struct {
	store     Store
	changelog TopicPartition
	logged    bool
	offsets   map[string]int64
}

// taskBuild carries what node constructors need from the task being built.
type taskBuild struct {
	task         *Task
	storesOfNode map[string]map[string]Store
}

func newContext[K, V any](b *taskBuild, name string) procContext[K, V] {
	return procContext[K, V]{task: b.task, name: name, stores: b.storesOfNode[name]}
}

// resolve turns a fixed sink topic into the name the task writes.
func (b *taskBuild) resolve(topic string) string {
	if topic == "" {
		return ""
	}
	return b.task.top.resolveTopic(b.task.appID, topic)
}

// changelogSink sends a store's writes to its changelog partition.
type changelogSink struct {
	task *Task
	tp   TopicPartition
}

func (c changelogSink) Send(key, value []byte) error {
	return c.task.output.Send(ProducedRecord{Topic: c.tp.Topic, Partition: c.tp.Partition, Key: key, Value: value, Timestamp: c.task.curTime})
}

// NewTask builds the task cfg.ID of top: opens and builds its stores (restoring them
// through cfg.Restore first), creates its processors and calls their Init.
func NewTask(top *Topology, cfg TaskConfig) (*Task, error) {
	if err := top.Validate(); err != nil {
		return nil, err
	}
	g := top.group(cfg.ID.Subtopology)
	if g == nil || g.global {
		return nil, fmt.Errorf("%w: task %s: no sub-topology %d", ErrInvalidTopology, cfg.ID, cfg.ID.Subtopology)
	}
	if cfg.Output == nil {
		return nil, fmt.Errorf("runtime: task %s: no Output", cfg.ID)
	}
	t := newTaskShell(top, cfg)
	if err := t.build(g); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	if err := t.addPartitions(g); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	if err := t.initNodes(); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return t, nil
}

func newTaskShell(top *Topology, cfg TaskConfig) *Task {
	t := &Task{
		top:         top,
		cfg:         cfg,
		id:          cfg.ID,
		appID:       cfg.ApplicationID,
		output:      cfg.Output,
		now:         cfg.Now,
		log:         cfg.Logger,
		byPartition: map[TopicPartition]*partitionQueue{},
		storeByName: map[string]*taskStore{},
		streamTime:  UnknownTime,
	}
	if t.now == nil {
		t.now = func() int64 { return time.Now().UnixMilli() }
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.cfg.OnDeserializationError == nil {
		t.cfg.OnDeserializationError = FailOnError
	}
	if t.cfg.OnProcessingError == nil {
		t.cfg.OnProcessingError = FailOnError
	}
	if t.cfg.MaxBufferedPerPartition <= 0 {
		t.cfg.MaxBufferedPerPartition = 1000
	}
	return t
}

// build opens the stores of g and creates its nodes, linked parent to child.
func (t *Task) build(g *group) error {
	b := &taskBuild{task: t, storesOfNode: map[string]map[string]Store{}}
	for _, name := range t.top.storesInFlushOrder(g.stores) {
		if err := t.openStore(name); err != nil {
			return err
		}
	}
	byName := map[string]builtNode{}
	for _, n := range g.nodes {
		if len(n.stores) > 0 {
			m := make(map[string]Store, len(n.stores))
			for _, s := range n.stores {
				m[s] = t.storeByName[s].store
			}
			b.storesOfNode[n.name] = m
		}
		bn := n.build(b)
		byName[n.name] = bn
		t.nodes = append(t.nodes, bn)
	}
	for _, n := range g.nodes {
		children := make([]builtNode, 0, len(n.children))
		for _, c := range n.children {
			children = append(children, byName[c])
		}
		if err := byName[n.name].connect(children); err != nil {
			return err
		}
	}
	return nil
}

// openStore opens, restores and builds store name.
func (t *Task) openStore(name string) error {
	e := t.top.stores[name]
	provider := t.cfg.MemoryStores
	if e.builder.Persistent() {
		provider = t.cfg.Stores
		if provider == nil {
			return fmt.Errorf("runtime: task %s: store %q is persistent but TaskConfig.Stores is nil", t.id, name)
		}
	} else if provider == nil {
		if t.ownMemory == nil {
			t.ownMemory = state.NewMemoryProvider()
		}
		provider = t.ownMemory
	}
	owner := t.id.String()
	if t.global {
		owner = globalStoreTask
	}
	engine, err := provider.Open(owner, name)
	if err != nil {
		return fmt.Errorf("runtime: task %s: open store %q: %w", t.id, name, err)
	}
	ts := &taskStore{changelog: TopicPartition{Topic: ChangelogTopic(t.appID, name), Partition: t.id.Partition}, logged: e.builder.Logged() && !t.global}
	var sink state.ChangelogSink
	if ts.logged {
		sink = changelogSink{task: t, tp: ts.changelog}
		if t.cfg.Restore != nil {
			if err := t.cfg.Restore(name, ts.changelog, engine); err != nil {
				return errors.Join(fmt.Errorf("runtime: task %s: restore store %q: %w", t.id, name, err), engine.Close())
			}
		}
	}
	if ts.offsets, err = engine.CommittedOffsets(); err != nil {
		return errors.Join(fmt.Errorf("runtime: task %s: store %q: %w", t.id, name, err), engine.Close())
	}
	if ts.store, err = e.builder.Build(engine, sink); err != nil {
		return errors.Join(fmt.Errorf("runtime: task %s: build store %q: %w", t.id, name, err), engine.Close())
	}
	t.stores = append(t.stores, ts)
	t.storeByName[name] = ts
	return nil
}

// addPartitions makes a queue per input partition.
func (t *Task) addPartitions(g *group) error {
	sources := map[string]*node{}
	built := map[string]rawSource{}
	for i, n := range g.nodes {
		if n.kind != kindSource {
			continue
		}
		for _, topic := range n.topics {
			resolved := t.top.resolveTopic(t.appID, topic)
			sources[resolved] = n
			built[resolved] = t.nodes[i].(rawSource)
		}
	}
	parts := t.cfg.Partitions
	if len(parts) == 0 {
		for _, n := range g.nodes {
			for _, topic := range n.topics {
				parts = append(parts, TopicPartition{Topic: t.top.resolveTopic(t.appID, topic), Partition: t.id.Partition})
			}
		}
	}
	now := int64(0)
	if t.cfg.MaxTaskIdle >= 0 {
		now = t.now()
	}
	for _, tp := range parts {
		n, ok := sources[tp.Topic]
		if !ok {
			return fmt.Errorf("%w: task %s: topic %q is not read by sub-topology %d", ErrInvalidTopology, t.id, tp.Topic, t.id.Subtopology)
		}
		if _, dup := t.byPartition[tp]; dup {
			return fmt.Errorf("%w: task %s: partition %s given twice", ErrInvalidTopology, t.id, tp)
		}
		q := &partitionQueue{tp: tp, source: built[tp.Topic], node: n, partitionTime: UnknownTime, nextOffset: -1, emptySince: now, fetched: -1}
		t.queues = append(t.queues, q)
		t.byPartition[tp] = q
	}
	return nil
}

// initNodes calls Init on every processor, parents first.
func (t *Task) initNodes() error {
	for _, n := range t.nodes[t.inited:] {
		if ic, ok := n.(initCloser); ok {
			if err := ic.init(); err != nil {
				return fmt.Errorf("runtime: task %s: init: %w", t.id, err)
			}
		}
		t.inited++
	}
	return nil
}

// ID returns the task's ID.
func (t *Task) ID() TaskID { return t.id }

// StreamTime returns the largest timestamp processed, or UnknownTime.
func (t *Task) StreamTime() int64 { return t.streamTime }

// Partitions returns the task's input partitions.
func (t *Task) Partitions() []TopicPartition {
	out := make([]TopicPartition, len(t.queues))
	for i, q := range t.queues {
		out[i] = q.tp
	}
	return out
}

// Store returns the task's store name (or a global store) for the runtime's
// interactive queries and the test driver; GetStore gives it typed.
func (t *Task) Store(name string) (any, error) {
	if s, ok := t.storeByName[name]; ok {
		return s.store, nil
	}
	if s, ok := t.globalStore(name); ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: task %s has no store %q", ErrUnknownStore, t.id, name)
}

func (t *Task) globalStore(name string) (Store, bool) {
	if t.cfg.Globals == nil {
		return nil, false
	}
	s, ok := t.cfg.Globals.task.storeByName[name]
	if !ok {
		return nil, false
	}
	return s.store, true
}

// partitionCount returns the partition count of topic, or 0 when unknown.
func (t *Task) partitionCount(topic string) int32 {
	if t.cfg.PartitionCount == nil {
		return 0
	}
	return t.cfg.PartitionCount(topic)
}
