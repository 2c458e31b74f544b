package state

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// cacheEntryOverhead is what one cache entry costs beyond its key and value bytes (map
// slot, struct with its list links, B-tree slot while dirty), counted against the byte
// budget so that a cache of many tiny entries stays bounded too.
const cacheEntryOverhead = 128

// byteFlushListener receives each record the cache writes to the layer below, with the
// value the layer below held before (nil when none). newValue is nil for a delete.
type byteFlushListener func(key, newValue, oldValue []byte) error

// cacheEntry is one cached key. A dirty entry holds a write not yet passed down; a
// dirty entry with a nil value is a pending delete. A clean entry mirrors the layer below.
type cacheEntry struct {
	key, value []byte
	dirty      bool
	gone       bool // removed from the cache
	// links holds the entry's place in cachingEngine.lru and, while dirty, in
	// cachingEngine.dirty: lists through the entries themselves, so that caching a key
	// allocates no list elements for the collector to trace.
	links [2]entryLinks
}

func (e *cacheEntry) size() int64 { return int64(len(e.key) + len(e.value) + cacheEntryOverhead) }

// entryLinks are an entry's neighbours in one entryList.
type entryLinks struct{ prev, next *cacheEntry }

// entryList is a doubly linked list of cache entries through their links[which].
type entryList struct {
	which      int
	head, tail *cacheEntry
}

func (l *entryList) pushFront(e *cacheEntry) {
	e.links[l.which] = entryLinks{next: l.head}
	if l.head != nil {
		l.head.links[l.which].prev = e
	} else {
		l.tail = e
	}
	l.head = e
}

func (l *entryList) pushBack(e *cacheEntry) {
	e.links[l.which] = entryLinks{prev: l.tail}
	if l.tail != nil {
		l.tail.links[l.which].next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// remove takes e, which must be in the list, out of it.
func (l *entryList) remove(e *cacheEntry) {
	ln := e.links[l.which]
	if ln.prev != nil {
		ln.prev.links[l.which].next = ln.next
	} else {
		l.head = ln.next
	}
	if ln.next != nil {
		ln.next.links[l.which].prev = ln.prev
	} else {
		l.tail = ln.prev
	}
	e.links[l.which] = entryLinks{}
}

func (l *entryList) moveToFront(e *cacheEntry) {
	if l.head != e {
		l.remove(e)
		l.pushFront(e)
	}
}

func (l *entryList) moveToBack(e *cacheEntry) {
	if l.tail != e {
		l.remove(e)
		l.pushBack(e)
	}
}

// next returns the entry after e in the list.
func (l *entryList) next(e *cacheEntry) *cacheEntry { return e.links[l.which].next }

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

	mu      sync.Mutex
	entries map[string]*cacheEntry
	// dirtySorted orders the dirty entries by key for Iterate. Clean ones stay out of it:
	// keeping every entry there made each read that filled the cache, and each eviction,
	// pay two B-tree updates over the whole cache.
	dirtySorted *btree.BTreeG[*cacheEntry]
	lru         entryList // every entry, most recently used at the head
	dirty       entryList // the dirty entries, in the order of their last write
	bytes       int64
	listener    byteFlushListener
	closed      bool
}

// Which of an entry's links each list uses.
const (
	lruLinks = iota
	dirtyLinks
)

func newCachingEngine(inner Engine, maxBytes int64) *cachingEngine {
	return &cachingEngine{
		inner:    inner,
		maxBytes: maxBytes,
		entries:  make(map[string]*cacheEntry),
		dirtySorted: btree.NewG(16, func(a, b *cacheEntry) bool {
			return bytes.Compare(a.key, b.key) < 0
		}),
		lru:   entryList{which: lruLinks},
		dirty: entryList{which: dirtyLinks},
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
		c.lru.moveToFront(e)
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
		c.lru.moveToFront(e)
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

// insert adds a new, clean entry as the most recently used one.
func (c *cachingEngine) insert(e *cacheEntry) {
	c.entries[string(e.key)] = e
	c.lru.pushFront(e)
	c.bytes += e.size()
}

// remove drops an entry from every index; removing it again does nothing.
func (c *cachingEngine) remove(e *cacheEntry) {
	if e.gone {
		return
	}
	e.gone = true
	delete(c.entries, string(e.key))
	c.lru.remove(e)
	c.unmarkDirty(e)
	c.bytes -= e.size()
}

// markDirty moves e to the end of the flush order: the order of last writes.
func (c *cachingEngine) markDirty(e *cacheEntry) {
	if e.dirty {
		c.dirty.moveToBack(e)
		return
	}
	c.dirty.pushBack(e)
	c.dirtySorted.ReplaceOrInsert(e)
	e.dirty = true
}

// unmarkDirty takes e out of the dirty list and index if it is there.
func (c *cachingEngine) unmarkDirty(e *cacheEntry) {
	if !e.dirty {
		return
	}
	c.dirty.remove(e)
	c.dirtySorted.Delete(e)
	e.dirty = false
}

// evict drops least recently used entries until the cache fits its budget, passing
// dirty ones down first. An entry whose write fails stays, and the error is returned.
func (c *cachingEngine) evict() ([]flushed, error) {
	var recs []flushed
	for c.bytes > c.maxBytes && c.lru.tail != nil {
		e := c.lru.tail
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
	c.unmarkDirty(e)
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
	for e, next := c.dirty.head, (*cacheEntry)(nil); e != nil; e = next {
		next = c.dirty.next(e) // passing e down takes it out of the list
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
// Streams, then drops them from the cache and below. Finding the clean entries under
// prefix takes a pass over the cache, which suits its use: dropping a window store's
// expired segment, once per segment interval.
func (c *cachingEngine) DeletePrefix(prefix []byte) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	under := func(e *cacheEntry) bool { return bytes.HasPrefix(e.key, prefix) }
	recs, err := c.flushWhere(under)
	if err == nil {
		for _, e := range c.entries {
			if under(e) {
				c.remove(e)
			}
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
		snap = append(snap, cachedRecord{key: e.key, value: e.value})
		return true
	}
	lo, hi := &cacheEntry{key: from}, &cacheEntry{key: to}
	switch {
	case from != nil && to != nil && bytes.Compare(from, to) >= 0:
	case from != nil && to != nil:
		c.dirtySorted.AscendRange(lo, hi, visit)
	case from != nil:
		c.dirtySorted.AscendGreaterOrEqual(lo, visit)
	case to != nil:
		c.dirtySorted.AscendLessThan(hi, visit)
	default:
		c.dirtySorted.Ascend(visit)
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
	c.entries, c.dirtySorted = nil, nil
	c.lru.head, c.lru.tail, c.dirty.head, c.dirty.tail = nil, nil, nil, nil
	c.mu.Unlock()
	return c.inner.Close()
}
