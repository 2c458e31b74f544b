package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/state"
)

// App runs a topology on Kafka-protocol brokers as one instance of an application:
// Config.Threads stream threads, each a member of the consumer group named by the
// application ID, share the tasks of all instances with the same ID, at least once or
// exactly once (Config.ProcessingGuarantee). Create it with New, run it with Run, stop
// it with Close.
type App struct {
	top *Topology
	cfg Config
	log *slog.Logger

	dir                *stateDir
	persistent, memory state.Provider

	// Set by Run before the threads start.
	plan   *appPlan
	counts *partitionCounts

	queries   *queryState // what interactive queries need: see iq.go
	instance  string      // tells this instance's threads apart from other instances' in the group
	processID string      // names the exactly-once producers: kept in the state directory
	standbys  *standbys   // nil without Config.StandbyReplicas

	stateMu     sync.Mutex
	state       AppState
	rebalancing map[string]bool // threads joining the group or starting tasks

	mu      sync.Mutex
	running bool
	closed  bool
	stop    context.CancelFunc // ends Run's threads gracefully
	abort   context.CancelFunc // cuts their final commits short
	done    chan struct{}      // closed when Run returns
	threads []*thread          // while Run runs, for interactive queries
}

// New checks top and cfg, locks the state directory and opens the stores' providers.
// It does not connect to the brokers; Run does.
func New(top *Topology, cfg Config) (*App, error) {
	if top == nil {
		return nil, errors.New("runtime: nil topology")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := top.Validate(); err != nil {
		return nil, err
	}
	if len(top.GlobalStores()) > 0 {
		return nil, fmt.Errorf("%w: global stores in the application runtime", ErrNotSupported)
	}
	dir, err := lockStateDir(filepath.Join(cfg.StateDir, cfg.ApplicationID))
	if err != nil {
		return nil, err
	}
	badgerOpts := cfg.Badger
	if badgerOpts.Logger == nil {
		badgerOpts.Logger = cfg.Logger
	}
	var processID string
	if cfg.ProcessingGuarantee == ExactlyOnce {
		if processID, err = dir.processID(); err != nil {
			return nil, errors.Join(err, dir.unlock())
		}
	}
	persistent, err := state.NewBadgerProvider(dir.path, badgerOpts)
	if err != nil {
		return nil, errors.Join(err, dir.unlock())
	}
	var inst [16]byte
	_, _ = rand.Read(inst[:]) // crypto/rand.Read never fails
	return &App{
		top: top, cfg: cfg, log: cfg.Logger, dir: dir,
		persistent: persistent, memory: state.NewMemoryProvider(),
		rebalancing: map[string]bool{},
		queries:     newQueryState(top, cfg.ApplicationID),
		instance:    hex.EncodeToString(inst[:]),
		processID:   processID,
	}, nil
}

// Run connects to the brokers, checks the source topics, creates the internal topics
// and runs the stream threads until ctx ends or Close is called, which stop them
// gracefully (commit, close the tasks, leave the group) and make Run return nil, or
// until a thread fails, which stops the others and makes Run return the error.
// Missing source topics (ErrMissingSourceTopics) and co-partitioning violations
// (ErrCopartitioning) are returned at once.
func (a *App) Run(ctx context.Context) (err error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrAppClosed
	}
	if a.running {
		a.mu.Unlock()
		return errors.New("runtime: Run called twice")
	}
	runCtx, stop := context.WithCancel(ctx)
	ioCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	a.running, a.stop, a.abort, a.done = true, stop, abort, make(chan struct{})
	done := a.done
	a.mu.Unlock()
	stopping := make(chan struct{})
	go func() {
		<-runCtx.Done()
		a.setState(StatePendingShutdown)
		close(stopping)
	}()
	defer func() {
		stop()
		<-stopping
		abort()
		if err != nil {
			a.setState(StateError)
		} else {
			a.setState(StateNotRunning)
		}
		a.mu.Lock()
		a.running, a.threads = false, nil
		a.mu.Unlock()
		close(done)
	}()

	base := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.BootstrapServers...)}, a.cfg.ClientOptions...)
	// Topic metadata must be fresh right after the topics are created.
	admCl, err := kgo.NewClient(append(slices.Clone(base), kgo.MetadataMinAge(100*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	a.counts = &partitionCounts{adm: adm, ctx: ioCtx, counts: map[string]int32{}}
	if a.plan, err = prepareTopics(runCtx, adm, a.top, a.cfg, a.counts); err != nil {
		return err
	}
	if err := initOffsets(runCtx, adm, a.cfg, a.plan, a.log); err != nil {
		return err
	}
	// The standbys exist before the threads join the group, which asks for them.
	if a.cfg.StandbyReplicas > 0 {
		a.standbys = newStandbys(runCtx, a, base, adm)
		standbysDone := make(chan struct{})
		go func() {
			defer close(standbysDone)
			a.standbys.run()
		}()
		defer func() {
			stop()
			<-standbysDone
		}()
	}
	if a.cfg.ProcessingGuarantee == ExactlyOnce {
		if err := a.fenceRetiredThreads(runCtx, base); err != nil {
			return err
		}
	}
	threads := make([]*thread, 0, a.cfg.Threads)
	for i := range a.cfg.Threads {
		th, err := newThread(a, i+1, runCtx, ioCtx, base, adm)
		if err != nil {
			for _, th := range threads {
				th.cl.Close()
			}
			return err
		}
		threads = append(threads, th)
	}
	a.mu.Lock()
	a.threads = threads
	a.mu.Unlock()
	a.stateMu.Lock()
	for _, th := range threads {
		a.rebalancing[th.name] = true
	}
	a.transition(StateRebalancing)
	a.stateMu.Unlock()
	a.log.Info("application running", "application", a.cfg.ApplicationID, "threads", len(threads))
	errs := make(chan error, len(threads))
	for _, th := range threads {
		go func() {
			err := th.run()
			if err != nil {
				stop() // one thread failing stops the instance
			}
			errs <- err
		}()
	}
	var first error
	for range threads {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close stops Run gracefully, waiting for the threads' final commits until ctx ends
// (then they are cut short), closes the stores and releases the state directory. It
// is safe to call more than once.
func (a *App) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	stop, abort, done, running := a.stop, a.abort, a.done, a.running
	a.mu.Unlock()
	if running {
		stop()
		select {
		case <-done:
		case <-ctx.Done():
			abort()
			<-done
		}
	}
	a.cfg.metrics.unregister()
	return errors.Join(a.persistent.Close(), a.memory.Close(), a.dir.unlock())
}

// memberInfo is what this instance tells the group leader when a thread joins.
func (a *App) memberInfo() memberInfo {
	info := memberInfo{Server: a.cfg.ApplicationServer, Instance: a.instance, State: a.localTasks(), assigned: a.assigned}
	if a.standbys != nil {
		info.Standby = a.standbys.current()
	}
	return info
}

// assigned takes the group's task map from an assignment: interactive queries use
// it, and the standbys of this instance follow it.
func (a *App) assigned(ci *clusterInfo) {
	a.queries.setCluster(ci)
	if a.standbys != nil {
		a.standbys.set(ci.standbysOf(a.instance))
	}
}

// localTasks lists the tasks with a directory in the state directory, sorted.
func (a *App) localTasks() []TaskID {
	entries, err := os.ReadDir(a.dir.path)
	if err != nil {
		return nil
	}
	var out []TaskID
	for _, e := range entries {
		sub, part, ok := strings.Cut(e.Name(), "_")
		if !e.IsDir() || !ok {
			continue
		}
		s, err1 := strconv.Atoi(sub)
		p, err2 := strconv.ParseInt(part, 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, TaskID{Subtopology: s, Partition: int32(p)})
		}
	}
	slices.SortFunc(out, compareTaskIDs)
	return out
}
