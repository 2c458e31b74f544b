package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Log is one partition's log: a directory of segments. Append, WaitDurable,
// the retention calls and Close serialize on the log's own mutex; Read,
// OffsetForTimestamp and the offset getters run concurrently with them and
// with each other. Nothing is shared between Logs.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger
	cfg    atomic.Pointer[Config]

	// mu serializes writers. It guards the fields below up to segMu.
	mu        sync.Mutex
	active    *segment
	nextOff   int64
	producers producerStates
	dirty     []*segment // rolled segments not yet fsynced
	dirDirty  bool       // a segment file was created since the last fsync
	snapshots []int64    // producer snapshot offsets on disk, ascending
	txnOpen   []openTxn  // transactions holding back the last stable offset
	hdr       [headerLen]byte
	iov       [2][]byte

	// segMu guards segs; writers hold mu too, so under mu reading segs
	// needs no segMu. Readers hold it shared while they use a segment's file.
	segMu sync.RWMutex
	segs  []*segment

	closed  atomic.Bool
	end     atomic.Int64 // next offset to assign
	hw      atomic.Int64 // next offset readers may see
	lso     atomic.Int64 // log start offset
	durable atomic.Int64 // every offset below is fsynced
	hint    atomic.Pointer[readHint]
	txnView atomic.Pointer[[]openTxn] // txnOpen as last published

	// cleanMu serializes Clean passes (clean.go); cleanHook, set by tests
	// only, stops a pass at a named step as a crash would.
	cleanMu   sync.Mutex
	cleanHook func(step string) error

	// Group commit: one WaitDurable caller at a time fsyncs; the others
	// wait on syncDone and then check whether it covered them.
	syncMu   sync.Mutex
	syncing  bool
	syncDone chan struct{}
	fsyncs   atomic.Int64 // fsync rounds, for tests

	watchMu  sync.Mutex
	watchers []*watcher
	nwatch   atomic.Int32

	stop chan struct{}
	bg   sync.WaitGroup
}

const logStartFile = "log-start-offset"

// Open opens or creates the log in dir. It validates the active segment batch
// by batch and cuts a torn or corrupt tail, rebuilds missing or inconsistent
// indexes, restores the log start offset and the idempotent producer state.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create log dir: %w", err)
	}
	l := &Log{
		dir:       dir,
		opts:      opts,
		logger:    opts.Logger,
		producers: make(producerStates),
		syncDone:  make(chan struct{}),
		stop:      make(chan struct{}),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.cfg.Store(&cfg)
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, err
	}
	if opts.Fsync == FsyncInterval {
		d := opts.FsyncInterval
		if d <= 0 {
			d = time.Second
		}
		l.bg.Add(1)
		go l.syncLoop(d)
	}
	return l, nil
}

func (l *Log) now() time.Time {
	if l.opts.Now != nil {
		return l.opts.Now()
	}
	return time.Now()
}

// SetConfig replaces the topic settings; they apply from the next append or
// retention pass.
func (l *Log) SetConfig(cfg Config) { l.cfg.Store(&cfg) }

// HighWatermark is the offset after the last record readers may see: under
// FsyncAlways the durable end, otherwise the end offset.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// EndOffset is the offset the next appended record gets.
func (l *Log) EndOffset() int64 { return l.end.Load() }

// LogStartOffset is the first offset that may be read.
func (l *Log) LogStartOffset() int64 { return l.lso.Load() }

// Size is the total size of the log's segment files in bytes.
func (l *Log) Size() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// Close writes the active segment's indexes and a producer snapshot, fsyncs
// what is not yet durable and closes the files. Every later call on the Log
// returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed.Store(true)
	close(l.stop)
	s := l.active
	errs := []error{
		writeIndexes(s, s.rel(l.nextOff)),
		writeTxnIndex(s, l.nextOff),
		l.writeSnapshotLocked(),
	}
	for _, d := range l.dirty {
		errs = append(errs, d.sync())
	}
	if l.dirDirty {
		errs = append(errs, syncDir(l.dir))
	}
	errs = append(errs, s.sync())
	err := errors.Join(errs...)
	if err == nil {
		l.markDurable(l.nextOff)
	}
	l.segMu.Lock()
	for _, s := range l.segs {
		s.close()
	}
	l.segMu.Unlock()
	l.mu.Unlock()
	l.bg.Wait()
	// Wake long-polling readers so they notice the close.
	l.notify()
	return err
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	err := l.Close()
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	if rerr := os.RemoveAll(l.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("storage: remove log: %w", rerr))
	}
	return err
}

// writeSnapshotLocked snapshots the producer state and the active
// segment's aborted index at the end offset and keeps only the two newest
// snapshots.
func (l *Log) writeSnapshotLocked() error {
	if err := writeSnapshot(l.dir, l.nextOff, l.producers, l.active.abortedEntries()); err != nil {
		return err
	}
	if n := len(l.snapshots); n == 0 || l.snapshots[n-1] != l.nextOff {
		l.snapshots = append(l.snapshots, l.nextOff)
	}
	for len(l.snapshots) > 2 {
		os.Remove(l.snapshotPath(l.snapshots[0]))
		l.snapshots = slices.Delete(l.snapshots, 0, 1)
	}
	return nil
}

func (l *Log) snapshotPath(off int64) string {
	return (&segment{dir: l.dir, base: off}).path(extSnapshot)
}

// storeMax raises v to n and reports whether it moved.
func storeMax(v *atomic.Int64, n int64) bool {
	for {
		cur := v.Load()
		if n <= cur {
			return false
		}
		if v.CompareAndSwap(cur, n) {
			return true
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: open log dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: fsync log dir: %w", err)
	}
	return nil
}
