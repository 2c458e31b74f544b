package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// memoryStore is what a memory provider keeps of a closed engine: its state at the
// last Commit, so that reopening behaves like reopening a Badger engine.
type memoryStore struct {
	tree    *btree.BTreeG[treeItem]
	offsets map[string]int64
}

// memoryProvider hands out memory engines and keeps their committed state between
// Close and Open for as long as the provider lives.
type memoryProvider struct {
	mu     sync.Mutex
	stores map[string]*memoryStore
	open   map[string]*memoryEngine
	closed bool
}

// NewMemoryProvider returns a Provider of in-memory engines: ordered B-trees whose state
// lives as long as the provider. A closed engine's state at its last Commit is kept and
// handed back by the next Open, like a Badger engine after a restart; Drop forgets it.
func NewMemoryProvider() Provider {
	return &memoryProvider{stores: map[string]*memoryStore{}, open: map[string]*memoryEngine{}}
}

func (p *memoryProvider) Open(task, name string) (Engine, error) {
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
	st := p.stores[id]
	if st == nil {
		st = &memoryStore{tree: newTree(), offsets: map[string]int64{}}
		p.stores[id] = st
	}
	e := &memoryEngine{
		tree:    newSharedTree(st.tree),
		undo:    map[string]undoEntry{},
		offsets: maps.Clone(st.offsets),
	}
	e.onClose = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.open[id] == e {
			delete(p.open, id)
			if !p.closed {
				p.stores[id] = &memoryStore{tree: e.rolledBack, offsets: e.offsets}
			}
		}
	}
	p.open[id] = e
	return e, nil
}

func (p *memoryProvider) Drop(task, name string) error {
	id, err := storeID(task, name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.open[id]; ok {
		return fmt.Errorf("state: drop %s: %w", id, ErrInUse)
	}
	delete(p.stores, id)
	return nil
}

func (p *memoryProvider) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	open := make([]*memoryEngine, 0, len(p.open))
	for _, e := range p.open {
		open = append(open, e)
	}
	p.stores = nil
	p.mu.Unlock()
	var errs []error
	for _, e := range open {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// memoryEngine is an Engine on a copy-on-write B-tree. Writes since the last Commit keep
// an undo entry per key (its item before the first write), so Commit only forgets them
// and Close rolls them back. Snapshotting the tree on every Commit instead would make
// the next writes copy the nodes they touch, which dominated a commit-per-record loop;
// iterators share the tree for the same reason (see sharedTree).
type memoryEngine struct {
	mu         sync.RWMutex
	tree       *sharedTree
	undo       map[string]undoEntry
	rolledBack *btree.BTreeG[treeItem] // the tree at its last Commit, set by Close
	offsets    map[string]int64
	closed     atomic.Bool
	onClose    func()
}

// undoEntry is a key's item before its first write since the last Commit.
type undoEntry struct {
	item treeItem
	had  bool
}

// remember records key's committed item before a write; e.mu is held.
func (e *memoryEngine) remember(key []byte) {
	if _, ok := e.undo[string(key)]; ok {
		return
	}
	it, had := e.tree.t.Get(treeItem{key: key})
	e.undo[string(key)] = undoEntry{item: it, had: had}
}

func (e *memoryEngine) Get(key []byte) ([]byte, bool, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return nil, false, ErrClosed
	}
	it, ok := e.tree.t.Get(treeItem{key: key})
	return it.value, ok, nil
}

func (e *memoryEngine) Put(key, value []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	e.remember(key)
	e.tree.forWrite().ReplaceOrInsert(treeItem{key: bytes.Clone(key), value: cloneValue(value)})
	return nil
}

func (e *memoryEngine) Delete(key []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	e.remember(key)
	e.tree.forWrite().Delete(treeItem{key: key})
	return nil
}

func (e *memoryEngine) DeletePrefix(prefix []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	var doomed []treeItem
	visit := func(it treeItem) bool {
		if !bytes.HasPrefix(it.key, prefix) {
			return false
		}
		doomed = append(doomed, it)
		return true
	}
	e.tree.t.AscendGreaterOrEqual(treeItem{key: prefix}, visit)
	if len(doomed) == 0 {
		return nil
	}
	tree := e.tree.forWrite()
	for _, it := range doomed {
		e.remember(it.key)
		tree.Delete(it)
	}
	return nil
}

func (e *memoryEngine) Iterate(from, to []byte, reverse bool) (Iterator, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return nil, ErrClosed
	}
	return &memoryIterator{e: e, cur: e.tree.cursor(bytes.Clone(from), bytes.Clone(to), reverse)}, nil
}

func (e *memoryEngine) ApproximateCount() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return 0
	}
	return int64(e.tree.t.Len())
}

func (e *memoryEngine) Commit(offsets map[string]int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	clear(e.undo)
	e.offsets = maps.Clone(offsets)
	if e.offsets == nil {
		e.offsets = map[string]int64{}
	}
	return nil
}

func (e *memoryEngine) CommittedOffsets() (map[string]int64, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return nil, ErrClosed
	}
	return maps.Clone(e.offsets), nil
}

// Restore applies the batch and commits; in memory there is nothing faster to do than
// what Put, Delete and Commit do, so it exists for one code path in the runtime.
func (e *memoryEngine) Restore(batch []KV, offsets map[string]int64) error {
	e.mu.Lock()
	if e.closed.Load() {
		e.mu.Unlock()
		return ErrClosed
	}
	tree := e.tree.forWrite()
	for _, kv := range batch {
		e.remember(kv.Key)
		if kv.Value == nil {
			tree.Delete(treeItem{key: kv.Key})
			continue
		}
		tree.ReplaceOrInsert(treeItem{key: bytes.Clone(kv.Key), value: bytes.Clone(kv.Value)})
	}
	e.mu.Unlock()
	return e.Commit(offsets)
}

func (e *memoryEngine) Close() error {
	e.mu.Lock()
	if e.closed.Swap(true) {
		e.mu.Unlock()
		return nil
	}
	tree := e.tree.t
	if len(e.undo) > 0 {
		tree = e.tree.forWrite()
	}
	for k, u := range e.undo {
		if u.had {
			tree.ReplaceOrInsert(u.item)
		} else {
			tree.Delete(treeItem{key: []byte(k)})
		}
	}
	e.rolledBack, e.tree, e.undo = tree, nil, nil
	e.mu.Unlock()
	if e.onClose != nil {
		e.onClose()
	}
	return nil
}

// memoryIterator walks the engine's tree as it was when Iterate was called (see
// sharedTree); it takes the engine's read lock only when its cursor reads the tree.
type memoryIterator struct {
	e       *memoryEngine
	cur     *treeCursor
	started bool
	done    bool
	item    treeItem
	err     error
}

func (it *memoryIterator) Next() bool {
	if it.done {
		return false
	}
	if it.e.closed.Load() {
		return it.stop(ErrClosed)
	}
	if it.started {
		if it.cur.atChunkEnd() {
			it.e.mu.RLock()
			if it.e.closed.Load() {
				it.e.mu.RUnlock()
				return it.stop(ErrClosed)
			}
			it.cur.next()
			it.e.mu.RUnlock()
		} else {
			it.cur.next()
		}
	}
	it.started = true
	if !it.cur.valid() {
		return it.stop(nil)
	}
	it.item = it.cur.item()
	return true
}

func (it *memoryIterator) stop(err error) bool {
	it.err, it.done, it.item = err, true, treeItem{}
	return false
}

func (it *memoryIterator) Key() []byte   { return it.item.key }
func (it *memoryIterator) Value() []byte { return it.item.value }
func (it *memoryIterator) Err() error    { return it.err }

func (it *memoryIterator) Close() error {
	it.stop(it.err)
	if it.cur != nil {
		it.e.mu.RLock()
		it.cur.release()
		it.e.mu.RUnlock()
		it.cur = nil
	}
	return nil
}

// cloneValue copies a value; a nil value becomes an empty one, as Put promises.
func cloneValue(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return bytes.Clone(v)
}
