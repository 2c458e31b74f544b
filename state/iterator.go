package state

import "bytes"

// KeyValue is one entry of a store.
type KeyValue[K, V any] struct {
	// Key is the entry's key.
	Key K
	// Value is the entry's value.
	Value V
}

// KeyValueIterator walks typed entries of a store in the order of its stored bytes. It
// must be closed. A bad stored byte string stops it: Next returns false and Err returns an
// error wrapping ErrCorrupt.
type KeyValueIterator[K, V any] interface {
	// Next advances to the next entry and reports whether there is one.
	Next() bool
	// Key returns the current entry's key.
	Key() K
	// Value returns the current entry's value.
	Value() V
	// Err returns the error that stopped the iteration, if any.
	Err() error
	// Close releases the iterator; it is safe to call more than once.
	Close() error
}

// decodeFunc turns the stored bytes of one entry into a typed entry. keep is false for
// an entry that lies inside the scanned byte range but outside the query (another key's
// window, say), which the iterator skips.
type decodeFunc[K, V any] func(key, value []byte) (k K, v V, keep bool, err error)

// typedIterator decodes an engine iterator lazily, one entry per Next.
type typedIterator[K, V any] struct {
	raw    Iterator
	decode decodeFunc[K, V]
	key    K
	value  V
	err    error
	closed bool
}

func newTypedIterator[K, V any](raw Iterator, decode decodeFunc[K, V]) *typedIterator[K, V] {
	return &typedIterator[K, V]{raw: raw, decode: decode}
}

func (it *typedIterator[K, V]) Next() bool {
	if it.err != nil || it.closed {
		return false
	}
	for it.raw.Next() {
		k, v, keep, err := it.decode(it.raw.Key(), it.raw.Value())
		if err != nil {
			it.err = err
			return false
		}
		if keep {
			it.key, it.value = k, v
			return true
		}
	}
	it.err = it.raw.Err()
	return false
}

func (it *typedIterator[K, V]) Key() K     { return it.key }
func (it *typedIterator[K, V]) Value() V   { return it.value }
func (it *typedIterator[K, V]) Err() error { return it.err }

func (it *typedIterator[K, V]) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	return it.raw.Close()
}

// emptyIterator is an engine iterator with nothing in it, for queries whose bounds are
// empty (from after to).
type emptyIterator struct{}

func (emptyIterator) Next() bool    { return false }
func (emptyIterator) Key() []byte   { return nil }
func (emptyIterator) Value() []byte { return nil }
func (emptyIterator) Err() error    { return nil }
func (emptyIterator) Close() error  { return nil }

// chainIterator walks several engine ranges one after the other, opening each only when
// the previous one is used up, so a query over many segments holds one iterator at a
// time.
type chainIterator struct {
	open   func(i int) (Iterator, error)
	n      int
	next   int
	cur    Iterator
	err    error
	closed bool
}

func (c *chainIterator) Next() bool {
	if c.err != nil || c.closed {
		return false
	}
	for {
		if c.cur != nil {
			if c.cur.Next() {
				return true
			}
			err := c.cur.Err()
			if cerr := c.cur.Close(); err == nil {
				err = cerr
			}
			c.cur = nil
			if err != nil {
				c.err = err
				return false
			}
		}
		if c.next >= c.n {
			return false
		}
		it, err := c.open(c.next)
		c.next++
		if err != nil {
			c.err = err
			return false
		}
		c.cur = it
	}
}

func (c *chainIterator) Key() []byte   { return c.cur.Key() }
func (c *chainIterator) Value() []byte { return c.cur.Value() }
func (c *chainIterator) Err() error    { return c.err }

func (c *chainIterator) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.cur != nil {
		return c.cur.Close()
	}
	return nil
}

// mergedIterator overlays a sorted snapshot of cache entries on an engine iterator: a
// cached entry hides the engine's entry of the same key, and a cached tombstone (nil
// value) hides the key altogether.
type mergedIterator struct {
	cached  []cachedRecord
	ci      int
	inner   Iterator
	reverse bool

	innerOK      bool // inner is on an entry not yet consumed
	innerPending bool // inner must advance before its next use
	started      bool

	key, value []byte
	err        error
	closed     bool
}

// cachedRecord is a cache entry copied out of the cache for an iterator.
type cachedRecord struct {
	key, value []byte
}

func (m *mergedIterator) advanceInner() {
	m.innerOK = m.inner.Next()
	m.innerPending = false
	if !m.innerOK && m.err == nil {
		m.err = m.inner.Err()
	}
}

func (m *mergedIterator) Next() bool {
	if m.closed || m.err != nil {
		return false
	}
	if !m.started || m.innerPending {
		m.started = true
		m.advanceInner()
	}
	for m.err == nil {
		haveCache := m.ci < len(m.cached)
		switch {
		case !haveCache && !m.innerOK:
			return false
		case haveCache && m.innerOK:
			c := bytes.Compare(m.cached[m.ci].key, m.inner.Key())
			if m.reverse {
				c = -c
			}
			if c > 0 {
				return m.takeInner()
			}
			if c == 0 {
				m.advanceInner()
			}
			if m.takeCached() {
				return true
			}
		case haveCache:
			if m.takeCached() {
				return true
			}
		default:
			return m.takeInner()
		}
	}
	return false
}

// takeCached moves to the next cached entry and reports whether it is a value rather
// than a tombstone to skip.
func (m *mergedIterator) takeCached() bool {
	rec := m.cached[m.ci]
	m.ci++
	if rec.value == nil {
		return false
	}
	m.key, m.value = rec.key, rec.value
	return true
}

func (m *mergedIterator) takeInner() bool {
	m.key, m.value = m.inner.Key(), m.inner.Value()
	m.innerPending = true
	return true
}

func (m *mergedIterator) Key() []byte   { return m.key }
func (m *mergedIterator) Value() []byte { return m.value }
func (m *mergedIterator) Err() error    { return m.err }

func (m *mergedIterator) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	m.cached = nil
	return m.inner.Close()
}
