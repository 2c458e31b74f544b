package testdriver

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/state"
)

// Driver runs a topology in-process: one runtime.Task per (sub-topology, partition)
// over in-memory topics. It is not safe for concurrent use; a test drives it from one
// goroutine.
type Driver struct {
	top *runtime.Topology
	cfg Config
	now int64 // mocked wall clock, ms

	topics        map[string]*topic
	dynamicSinks  bool                  // some sink picks its topic per record
	subPartitions map[int]int32         // tasks per sub-topology
	tasks         []*driverTask         // sorted by ID
	bySub         map[int][]*driverTask // indexed by partition
	global        *runtime.GlobalTask
	globalDirty   bool

	pending  []delivery // records written to topics the topology reads
	spare    []delivery // the other buffer drain swaps with pending
	addBuf   []runtime.ConsumedRecord
	batching bool

	persistent, memory state.Provider

	err    error // the failure every later call reports
	closed bool
}

// driverTask is a task and whether it did work since its last commit.
type driverTask struct {
	task  *runtime.Task
	dirty bool
	// stateless tasks have no store to flush or commit, so their commit would only
	// compute input offsets, which nobody reads here; the driver skips it.
	stateless bool
}

// New validates top and builds its tasks, stores and topics. Close releases them.
func New(top *runtime.Topology, cfg Config) (*Driver, error) {
	if top == nil {
		return nil, errors.New("testdriver: nil topology")
	}
	cfg = cfg.withDefaults()
	for name, n := range cfg.Partitions {
		if n <= 0 {
			return nil, fmt.Errorf("%w: topic %q: partition count %d", ErrInvalidPartition, name, n)
		}
	}
	subs, err := top.Subtopologies(cfg.ApplicationID)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		top:    top,
		cfg:    cfg,
		now:    cfg.InitialWallClock.UnixMilli(),
		topics: map[string]*topic{},
		bySub:  map[int][]*driverTask{},
	}
	for _, st := range top.Describe().Subtopologies {
		for _, n := range st.Nodes {
			d.dynamicSinks = d.dynamicSinks || n.TopicExtractor
		}
	}
	d.planTopics(subs, top.RepartitionTopics(cfg.ApplicationID))
	for _, g := range top.GlobalStores() {
		for _, name := range g.SourceTopics {
			d.topicFor(name).global = true
		}
	}
	if err := d.openProviders(); err != nil {
		return nil, err
	}
	if err := d.startTasks(subs); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// planTopics sizes every topic the way the runtime creates them
// (runtime.PlanPartitions) and records who reads the topics.
func (d *Driver) planTopics(subs []runtime.Subtopology, reps []runtime.RepartitionTopicInfo) {
	plan := runtime.PlanPartitions(subs, reps, d.externalPartitions)
	d.subPartitions = plan.Tasks
	for _, r := range reps {
		d.topics[r.Topic] = newTopic(r.Topic, plan.Repartitions[r.Topic])
	}
	for _, st := range subs {
		for _, name := range st.SourceTopics {
			d.topicFor(name).reader = st.ID
		}
		for _, name := range st.SinkTopics {
			d.topicFor(name)
		}
		for _, name := range st.ChangelogTopics {
			d.topics[name] = newTopic(name, d.subPartitions[st.ID])
		}
	}
}

// openProviders opens the state providers: Badger for persistent stores when
// StateDir is set, memory for the rest.
func (d *Driver) openProviders() error {
	d.memory = state.NewMemoryProvider()
	d.persistent = d.memory
	if d.cfg.StateDir == "" {
		return nil
	}
	p, err := state.NewBadgerProvider(filepath.Join(d.cfg.StateDir, d.cfg.ApplicationID), d.cfg.Badger)
	if err != nil {
		return errors.Join(fmt.Errorf("testdriver: %w", err), d.memory.Close())
	}
	d.persistent = p
	return nil
}

// startTasks creates the global task and one task per (sub-topology, partition), each
// reading that partition of every source topic that has it.
func (d *Driver) startTasks(subs []runtime.Subtopology) error {
	if len(d.top.GlobalStores()) > 0 {
		g, err := runtime.NewGlobalTask(d.top, runtime.GlobalTaskConfig{
			ApplicationID:          d.cfg.ApplicationID,
			Stores:                 d.persistent,
			MemoryStores:           d.memory,
			Now:                    d.wallClock,
			Logger:                 d.cfg.Logger,
			OnDeserializationError: d.cfg.OnDeserializationError,
			OnProcessingError:      d.cfg.OnProcessingError,
		})
		if err != nil {
			return err
		}
		d.global = g
	}
	stateful := map[int]bool{}
	for _, st := range subs {
		stateful[st.ID] = len(st.Stores) > 0
	}
	for _, st := range subs {
		n := d.subPartitions[st.ID]
		d.bySub[st.ID] = make([]*driverTask, n)
		for p := range n {
			var parts []runtime.TopicPartition
			for _, name := range st.SourceTopics {
				if p < d.topics[name].partitions {
					parts = append(parts, runtime.TopicPartition{Topic: name, Partition: p})
				}
			}
			task, err := runtime.NewTask(d.top, runtime.TaskConfig{
				ApplicationID:          d.cfg.ApplicationID,
				ID:                     runtime.TaskID{Subtopology: st.ID, Partition: p},
				Partitions:             parts,
				Stores:                 d.persistent,
				MemoryStores:           d.memory,
				Output:                 collector{d},
				PartitionCount:         d.partitionCount,
				Now:                    d.wallClock,
				Logger:                 d.cfg.Logger,
				OnDeserializationError: d.cfg.OnDeserializationError,
				OnProcessingError:      d.cfg.OnProcessingError,
				Globals:                d.global,
			})
			if err != nil {
				return err
			}
			dt := &driverTask{task: task, stateless: !stateful[st.ID]}
			d.bySub[st.ID][p] = dt
			d.tasks = append(d.tasks, dt)
		}
	}
	slices.SortFunc(d.tasks, func(a, b *driverTask) int {
		ia, ib := a.task.ID(), b.task.ID()
		return cmp.Or(cmp.Compare(ia.Subtopology, ib.Subtopology), cmp.Compare(ia.Partition, ib.Partition))
	})
	// Init may have written to stores or scheduled work; start from a commit.
	for _, t := range d.tasks {
		t.dirty = true
	}
	return d.drain()
}

func (d *Driver) wallClock() int64 { return d.now }

// check returns the error every call reports once the driver is closed or failed.
func (d *Driver) check() error {
	if d.closed {
		return ErrClosed
	}
	if d.err != nil {
		return fmt.Errorf("%w: %w", ErrFailed, d.err)
	}
	return nil
}

// fail makes err the driver's failure and returns it.
func (d *Driver) fail(err error) error {
	d.err = err
	return err
}

// Close closes every task, without committing what a failed record left, and the
// stores' providers. It is safe to call more than once.
func (d *Driver) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, t := range d.tasks {
		errs = append(errs, t.task.Close())
	}
	if d.global != nil {
		errs = append(errs, d.global.Close())
	}
	if d.persistent != nil && d.persistent != d.memory {
		errs = append(errs, d.persistent.Close())
	}
	if d.memory != nil {
		errs = append(errs, d.memory.Close())
	}
	return errors.Join(errs...)
}
