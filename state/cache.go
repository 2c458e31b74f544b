package state

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/google/btree"
)

// cacheEntryOverhead is what one cache entry costs beyond its key and value bytes (map
// slot, list elements, B-tree slot, struct), counted against the byte budget so that a
// cache of many tiny entries stays bounded too.
const cacheEntryOverhead = 128

// byteFlushListener receives each record the cache writes to the layer below, with the
// value the layer below held before (nil when none). newValue is nil for a delete.
type byteFlushListener func(key, newValue, oldValue []byte) error

// cacheEntry is one cached key. A dirty entry holds a write not yet passed down; a
// dirty entry with a nil value is a pending delete. A clean entry mirrors the layer below.
type cacheEntry struct {
	key, value []byte
	dirty      bool
	lru        *list.Element // in cachingEngine.lru, most recently used at the front
	dirtyElem  *list.Element // in cachingEngine.dirty while dirty
	gone       bool          // removed from the cache
}

func (e *cacheEntry) size() int64 { return int64(len(e.key) + len(e.value) + cacheEntryOverhead) }

// cachingEngine is Kafka Streams' record cache for one store: writes stay in memory and
// the last write to a key within a commit interval is the only one passed down, so the
// changelog and downstream see one update per key per commit. It is bounded in bytes;
// when over budget it evicts the least recently used entry, passing it down first if it
// is dirty. Reads go through it and cache what they read.
//
// It is safe for concurrent use (interactive queries read while the task writes). The
// flush listener is called without the lock held, so it may use the store again.
type cachingEngine struct {
	inner    Engine
	maxBytes int64

	mu       sync.Mutex
	entries  map[string]*cacheEntry
	sorted   *btree.BTreeG[*cacheEntry]
	lru      *list.List // of *cacheEntry
	dirty    list.List  // of *cacheEntry, in the order of their last write
	bytes    int64
	listener byteFlushListener
	closed   bool
}

func newCachingEngine(inner Engine, maxBytes int64) *cachingEngine {
	return &cachingEngine{
		inner:    inner,
		maxBytes: maxBytes,
		entries:  make(map[string]*cacheEntry),
		sorted: btree.NewG(16, func(a, b *cacheEntry) bool {
			return bytes.Compare(a.key, b.key) < 0
		}),
		lru: list.New(),
	}
}

// setListener sets the callback of flushed and evicted records.
func (c *cachingEngine) setListener(l byteFlushListener) {
	c.mu.Lock()
	c.listener = l
	c.mu.Unlock()
}

// flushed is a record passed down, kept to be handed to the listener after unlocking.
type flushed struct {
	key, newValue, oldValue []byte
}

// notify hands flushed records to the listener in order, stopping at its first error.
func notify(l byteFlushListener, recs []flushed) error {
	if l == nil {
		return nil
	}
	for _, r := range recs {
		if err := l(r.key, r.newValue, r.oldValue); err != nil {
			return err
		}
	}
	return nil
}

func (c *cachingEngine) Get(key []byte) ([]byte, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	if e, ok := c.entries[string(key)]; ok {
		c.lru.MoveToFront(e.lru)
		c.mu.Unlock()
		return e.value, e.value != nil, nil
	}
	value, found, err := c.inner.Get(key)
	if err != nil || !found {
		c.mu.Unlock()
		return value, found, err
	}
	if value == nil {
		value = []byte{}
	}
	c.insert(&cacheEntry{key: bytes.Clone(key), value: value})
	// Making room may pass dirty entries down, as in Kafka Streams, where reads fill the
	// cache too.
	recs, err := c.evict()
	l := c.listener
	c.mu.Unlock()
	if err == nil {
		err = notify(l, recs)
	}
	return value, true, err
}

func (c *cachingEngine) Put(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return c.write(key, bytes.Clone(value))
}

func (c *cachingEngine) Delete(key []byte) error { return c.write(key, nil) }

// write records a dirty value (nil: a delete) for key and evicts what no longer fits.
func (c *cachingEngine) write(key, value []byte) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if e, ok := c.entries[string(key)]; ok {
		c.bytes -= e.size()
		e.value = value
		c.bytes += e.size()
		c.lru.MoveToFront(e.lru)
		c.markDirty(e)
	} else {
		e := &cacheEntry{key: bytes.Clone(key), value: value}
		c.insert(e)
		c.markDirty(e)
	}
	recs, err := c.evict()
	l := c.listener
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return notify(l, recs)
}

// insert adds a new entry as the most recently used one.
func (c *cachingEngine) insert(e *cacheEntry) {
	c.entries[string(e.key)] = e
	c.sorted.ReplaceOrInsert(e)
	e.lru = c.lru.PushFront(e)
	c.bytes += e.size()
}

// remove drops an entry from every index; removing it again does nothing.
func (c *cachingEngine) remove(e *cacheEntry) {
	if e.gone {
		return
	}
	e.gone = true
	delete(c.entries, string(e.key))
	c.sorted.Delete(e)
	c.lru.Remove(e.lru)
	if e.dirtyElem != nil {
		c.dirty.Remove(e.dirtyElem)
		e.dirtyElem = nil
	}
	c.bytes -= e.size()
}

// markDirty moves e to the end of the flush order: the order of last writes.
func (c *cachingEngine) markDirty(e *cacheEntry) {
	if e.dirtyElem != nil {
		c.dirty.MoveToBack(e.dirtyElem)
	} else {
		e.dirtyElem = c.dirty.PushBack(e)
	}
	e.dirty = true
}

// evict drops least recently used entries until the cache fits its budget, passing
// dirty ones down first. An entry whose write fails stays, and the error is returned.
func (c *cachingEngine) evict() ([]flushed, error) {
	var recs []flushed
	for c.bytes > c.maxBytes && c.lru.Len() > 0 {
		e := c.lru.Back().Value.(*cacheEntry)
		if e.dirty {
			rec, write, err := c.passDown(e)
			if err != nil {
				return recs, err
			}
			if write {
				recs = append(recs, rec)
			}
		}
		c.remove(e)
	}
	return recs, nil
}

// passDown writes a dirty entry to the layer below and marks it clean. write is false
// when there was nothing to do: a delete of a key the layer below does not have, which
// Kafka Streams skips too, so the changelog gets no tombstone for a key it never had.
// The old value is read only when a listener wants it or to decide that skip.
func (c *cachingEngine) passDown(e *cacheEntry) (rec flushed, write bool, err error) {
	var old []byte
	if c.listener != nil || e.value == nil {
		var found bool
		if old, found, err = c.inner.Get(e.key); err != nil {
			return flushed{}, false, err
		}
		if found && old == nil {
			old = []byte{}
		}
		if e.value == nil && !found {
			c.markClean(e)
			return flushed{}, false, nil
		}
	}
	if e.value == nil {
		err = c.inner.Delete(e.key)
	} else {
		err = c.inner.Put(e.key, e.value)
	}
	if err != nil {
		return flushed{}, false, err
	}
	c.markClean(e)
	return flushed{key: e.key, newValue: e.value, oldValue: old}, true, nil
}

// markClean takes e out of the flush order; a passed-down delete leaves the cache, as it
// has nothing left to serve.
func (c *cachingEngine) markClean(e *cacheEntry) {
	if e.value == nil {
		c.remove(e)
		return
	}
	e.dirty = false
	if e.dirtyElem != nil {
		c.dirty.Remove(e.dirtyElem)
		e.dirtyElem = nil
	}
}

// Flush passes every dirty entry down, in the order of their last writes, and hands
// each to the flush listener. Entries written again during the listener's calls stay
// dirty for the next flush.
func (c *cachingEngine) Flush() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	recs, err := c.flushWhere(func(*cacheEntry) bool { return true })
	l := c.listener
	c.mu.Unlock()
	if nerr := notify(l, recs); err == nil {
		err = nerr
	}
	return err
}

// flushWhere passes down the dirty entries that match, in flush order.
func (c *cachingEngine) flushWhere(match func(*cacheEntry) bool) ([]flushed, error) {
	var recs []flushed
	for el := c.dirty.Front(); el != nil; {
		e := el.Value.(*cacheEntry)
		el = el.Next()
		if !match(e) {
			continue
		}
		rec, write, err := c.passDown(e)
		if err != nil {
			return recs, err
		}
		if write {
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

// DeletePrefix flushes the dirty entries under prefix first, so that what was written
// before a segment expired still reaches the changelog and the listener, as in Kafka
// Streams, then drops them from the cache and below.
func (c *cachingEngine) DeletePrefix(prefix []byte) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	under := func(e *cacheEntry) bool { return bytes.HasPrefix(e.key, prefix) }
	recs, err := c.flushWhere(under)
	if err == nil {
		var drop []*cacheEntry
		c.sorted.AscendGreaterOrEqual(&cacheEntry{key: prefix}, func(e *cacheEntry) bool {
			if !under(e) {
				return false
			}
			drop = append(drop, e)
			return true
		})
		for _, e := range drop {
			c.remove(e)
		}
		err = c.inner.DeletePrefix(prefix)
	}
	l := c.listener
	c.mu.Unlock()
	if nerr := notify(l, recs); err == nil {
		err = nerr
	}
	return err
}

// Iterate merges the dirty entries in range, copied out now, with the layer below.
func (c *cachingEngine) Iterate(from, to []byte, reverse bool) (Iterator, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	var snap []cachedRecord
	visit := func(e *cacheEntry) bool {
		if e.dirty {
			snap = append(snap, cachedRecord{key: e.key, value: e.value})
		}
		return true
	}
	lo, hi := &cacheEntry{key: from}, &cacheEntry{key: to}
	switch {
	case from != nil && to != nil && bytes.Compare(from, to) >= 0:
	case from != nil && to != nil:
		c.sorted.AscendRange(lo, hi, visit)
	case from != nil:
		c.sorted.AscendGreaterOrEqual(lo, visit)
	case to != nil:
		c.sorted.AscendLessThan(hi, visit)
	default:
		c.sorted.Ascend(visit)
	}
	inner, err := c.inner.Iterate(from, to, reverse)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if reverse {
		for i, j := 0, len(snap)-1; i < j; i, j = i+1, j-1 {
			snap[i], snap[j] = snap[j], snap[i]
		}
	}
	return &mergedIterator{cached: snap, inner: inner, reverse: reverse}, nil
}

// ApproximateCount is the count below, as in Kafka Streams: cached writes are not
// counted until flushed.
func (c *cachingEngine) ApproximateCount() int64 { return c.inner.ApproximateCount() }

// Commit flushes, then commits the layer below with offsets.
func (c *cachingEngine) Commit(offsets map[string]int64) error {
	if err := c.Flush(); err != nil {
		return err
	}
	return c.inner.Commit(offsets)
}

func (c *cachingEngine) CommittedOffsets() (map[string]int64, error) {
	return c.inner.CommittedOffsets()
}

// Close discards the cache without flushing: what was not committed is lost, as the
// engine's uncommitted writes are.
func (c *cachingEngine) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.entries, c.sorted, c.lru = nil, nil, nil
	c.dirty.Init()
	c.mu.Unlock()
	return c.inner.Close()
}
