package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/ristretto/v2/z"
)

// BadgerOptions tunes the Badger instances of a provider, one per task and store. A
// zero field takes the value of DefaultBadgerOptions; the defaults keep 64 stores
// within the memory budget measured in the package doc.
type BadgerOptions struct {
	// MemTableSize is the size of one memtable. Each store holds up to NumMemtables of
	// them in memory, so it bounds a store's write buffer.
	MemTableSize int64
	// NumMemtables is how many memtables a store keeps before writes wait for a flush.
	NumMemtables int
	// BaseTableSize is the size of a table file on disk at the first level.
	BaseTableSize int64
	// BlockCacheSize is the cache of decoded table blocks; tables are read through mmap
	// and stored uncompressed, so the default is no cache.
	BlockCacheSize int64
	// ValueThreshold is the value size from which values go to the value log instead of
	// the LSM tree; Badger caps it at 15% of MemTableSize.
	ValueThreshold int64
	// ValueLogFileSize is the size of one value log file.
	ValueLogFileSize int64
	// NumCompactors is the number of compaction goroutines per store (0 or at least 2).
	NumCompactors int
	// RestoreMemTableSize is the memtable size of a store while it restores a large
	// batch through Restorer; Restore reopens the store with it and the next call other
	// than Restore, Get or CommittedOffsets reopens it with MemTableSize, so a restoring
	// store holds up to NumMemtables of these. A negative value, or one not above
	// MemTableSize, keeps MemTableSize.
	RestoreMemTableSize int64
	// MaxPendingBytes is how large the in-memory overlay of writes since the last Commit
	// grows before it is written to Badger as uncommitted data.
	MaxPendingBytes int
	// Logger receives Badger's warnings and errors (and its info and debug lines at
	// debug level); nil discards them.
	Logger *slog.Logger
}

// DefaultBadgerOptions returns the options a zero BadgerOptions stands for.
func DefaultBadgerOptions() BadgerOptions {
	return BadgerOptions{
		MemTableSize:        2 << 20,
		NumMemtables:        2,
		BaseTableSize:       2 << 20,
		BlockCacheSize:      0,
		ValueThreshold:      64 << 10,
		ValueLogFileSize:    16 << 20,
		NumCompactors:       2,
		RestoreMemTableSize: 32 << 20,
		MaxPendingBytes:     4 << 20,
	}
}

func (o BadgerOptions) withDefaults() BadgerOptions {
	d := DefaultBadgerOptions()
	if o.MemTableSize <= 0 {
		o.MemTableSize = d.MemTableSize
	}
	if o.NumMemtables <= 0 {
		o.NumMemtables = d.NumMemtables
	}
	if o.BaseTableSize <= 0 {
		o.BaseTableSize = d.BaseTableSize
	}
	if o.BlockCacheSize < 0 {
		o.BlockCacheSize = 0
	}
	if o.ValueThreshold <= 0 {
		o.ValueThreshold = d.ValueThreshold
	}
	o.ValueThreshold = min(o.ValueThreshold, o.MemTableSize*15/100)
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = d.ValueLogFileSize
	}
	if o.NumCompactors <= 0 {
		o.NumCompactors = d.NumCompactors
	}
	if o.RestoreMemTableSize == 0 {
		o.RestoreMemTableSize = d.RestoreMemTableSize
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = d.MaxPendingBytes
	}
	return o
}

func (o BadgerOptions) badger(dir string) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithDetectConflicts(false).
		WithCompression(options.None).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithBaseTableSize(o.BaseTableSize).
		WithBaseLevelSize(4 * o.BaseTableSize).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(0).
		WithValueThreshold(o.ValueThreshold).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithNumCompactors(o.NumCompactors).
		WithLogger(nil)
	if o.Logger != nil {
		bo = bo.WithLogger(slogBadger{o.Logger})
	}
	return bo
}

// badgerProvider keeps one Badger instance per task and store under
// dir/<task>/<store>, so dropping a store removes a directory.
type badgerProvider struct {
	dir  string
	opts BadgerOptions

	mu     sync.Mutex
	open   map[string]*badgerEngine
	closed bool
}

// NewBadgerProvider returns a Provider that keeps each store of each task in its own
// Badger instance under dir/<task>/<store>. See the package doc for why, and for what
// 64 of them cost in memory.
func NewBadgerProvider(dir string, opts BadgerOptions) (Provider, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: create state dir: %w", err)
	}
	return &badgerProvider{dir: dir, opts: opts.withDefaults(), open: map[string]*badgerEngine{}}, nil
}

func (p *badgerProvider) Open(task, name string) (Engine, error) {
	id, err := storeID(task, name)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if _, ok := p.open[id]; ok {
		return nil, fmt.Errorf("state: open %s: %w", id, ErrInUse)
	}
	dir := filepath.Join(p.dir, task, name)
	opts := p.opts.badger(dir)
	var restoreOpts *badger.Options
	if p.opts.RestoreMemTableSize > p.opts.MemTableSize {
		ro := opts.WithMemTableSize(p.opts.RestoreMemTableSize)
		restoreOpts = &ro
	}
	db, err := openBadger(opts)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", id, err)
	}
	e, err := openBadgerEngine(db, opts, restoreOpts, p.opts.MaxPendingBytes)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("state: open %s: %w", id, err), db.Close())
	}
	e.onClose = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.open[id] == e {
			delete(p.open, id)
		}
	}
	p.open[id] = e
	return e, nil
}

// Drop removes the store's directory, and the task's once it holds no store.
func (p *badgerProvider) Drop(task, name string) error {
	id, err := storeID(task, name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.open[id]; ok {
		return fmt.Errorf("state: drop %s: %w", id, ErrInUse)
	}
	if err := os.RemoveAll(filepath.Join(p.dir, task, name)); err != nil {
		return fmt.Errorf("state: drop %s: %w", id, err)
	}
	// A task directory that still holds other stores stays; that error is expected.
	_ = os.Remove(filepath.Join(p.dir, task))
	return nil
}

func (p *badgerProvider) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	open := make([]*badgerEngine, 0, len(p.open))
	for _, e := range p.open {
		open = append(open, e)
	}
	p.mu.Unlock()
	var errs []error
	for _, e := range open {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// openBadger opens a managed instance, working around dgraph-io/badger#2207: a process
// killed just after creating a memtable file leaves it empty, and the next open fails
// with ristretto's z.NewFile while initialising that file, after which a second open
// succeeds (the file holds no data). Badger flattens the error to text, hence the match.
func openBadger(opts badger.Options) (*badger.DB, error) {
	db, err := badger.OpenManaged(opts)
	if err != nil && strings.Contains(err.Error(), z.NewFile.Error()) {
		db, err = badger.OpenManaged(opts)
	}
	return db, err
}

// storeID checks that task and name are usable as single path elements and joins them.
func storeID(task, name string) (string, error) {
	for _, s := range []string{task, name} {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
			return "", fmt.Errorf("state: bad task or store name %q", s)
		}
	}
	return task + "/" + name, nil
}

// slogBadger routes Badger's logger to slog. Badger logs routine events (flushes,
// compactions) at info, which is debug for an application embedding it.
type slogBadger struct{ l *slog.Logger }

func (s slogBadger) Errorf(f string, a ...any)   { s.log(slog.LevelError, f, a) }
func (s slogBadger) Warningf(f string, a ...any) { s.log(slog.LevelWarn, f, a) }
func (s slogBadger) Infof(f string, a ...any)    { s.log(slog.LevelDebug, f, a) }
func (s slogBadger) Debugf(f string, a ...any)   { s.log(slog.LevelDebug, f, a) }

func (s slogBadger) log(level slog.Level, f string, a []any) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
