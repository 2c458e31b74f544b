package state

import (
	"bytes"
	"sync/atomic"

	"github.com/google/btree"
)

// btreeDegree suits byte-slice items: nodes of a few hundred pointers keep the tree
// shallow without making copy-on-write copies expensive.
const btreeDegree = 32

// cursorChunk is how many items a tree cursor copies out per descent, trading a
// little memory per open iterator against one O(log n) descent per item.
const cursorChunk = 128

// treeItem is one key of an ordered tree; del marks a tombstone in the Badger engine's
// overlay of uncommitted writes (the memory engine never stores one).
type treeItem struct {
	key, value []byte
	del        bool
}

func lessItem(a, b treeItem) bool { return bytes.Compare(a.key, b.key) < 0 }

func newTree() *btree.BTreeG[treeItem] { return btree.NewG(btreeDegree, lessItem) }

// sharedTree is an engine's B-tree that its iterators read in place rather than each
// in a Clone of its own. A Clone marks every node shared, so the next write copies its
// root-to-leaf path; cloning on every Iterate made that copy dominate window lookups
// interleaved with puts. Instead a write made while a cursor may still read the tree
// moves the writer to a Clone first: the cursors keep a tree that nobody writes any
// more, the same snapshot as before, paid for only when a write meets an open cursor.
//
// The owner's lock guards it: writes (forWrite, replace) under the write lock; cursors
// read the tree and release it under at least the read lock.
type sharedTree struct {
	t       *btree.BTreeG[treeItem]
	gen     uint64       // bumped when t is replaced, so old cursors do not count
	readers atomic.Int64 // cursors of generation gen that may still read t
}

func newSharedTree(t *btree.BTreeG[treeItem]) *sharedTree { return &sharedTree{t: t} }

// forWrite returns the tree to write: t, after moving to a Clone of it if a cursor may
// still read it. The write lock is held.
func (s *sharedTree) forWrite() *btree.BTreeG[treeItem] {
	if s.readers.Load() > 0 {
		s.replace(s.t.Clone())
	}
	return s.t
}

// replace makes t the tree; cursors on the old one keep reading it. The write lock is
// held.
func (s *sharedTree) replace(t *btree.BTreeG[treeItem]) {
	s.t = t
	s.gen++
	s.readers.Store(0)
}

// cursor opens a cursor over [from, to) of the tree; from and to must not change
// afterwards. The lock is held (read or write), as for every later call on the cursor
// that may read the tree: next when atChunkEnd, and release.
func (s *sharedTree) cursor(from, to []byte, reverse bool) *treeCursor {
	s.readers.Add(1)
	c := &treeCursor{tree: s.t, owner: s, gen: s.gen, from: from, to: to, reverse: reverse}
	c.fill()
	return c
}

// treeCursor walks [from, to) of a tree, copying items out in chunks instead of
// holding the tree's callback iteration open. Once it has copied the last chunk it
// lets go of the tree, so a short scan never makes a write clone it.
type treeCursor struct {
	tree     *btree.BTreeG[treeItem]
	owner    *sharedTree // nil once released
	gen      uint64
	from, to []byte
	reverse  bool

	buf     []treeItem
	pos     int
	last    []byte
	started bool
	done    bool
}

// valid reports whether the cursor is on an item.
func (c *treeCursor) valid() bool { return c.pos < len(c.buf) }

// item returns the current item; valid must be true.
func (c *treeCursor) item() treeItem { return c.buf[c.pos] }

// atChunkEnd reports whether next will read the tree, and so needs the owner's lock.
func (c *treeCursor) atChunkEnd() bool { return c.pos+1 >= len(c.buf) && !c.done }

// next moves to the following item in the cursor's direction.
func (c *treeCursor) next() {
	c.pos++
	if c.pos >= len(c.buf) && !c.done {
		c.fill()
	}
}

// release lets go of the tree; it is safe to call more than once.
func (c *treeCursor) release() {
	if c.owner != nil && c.gen == c.owner.gen {
		c.owner.readers.Add(-1)
	}
	c.owner, c.tree = nil, nil
}

func (c *treeCursor) fill() {
	if n := len(c.buf); n > 0 {
		c.last, c.started = c.buf[n-1].key, true
	}
	c.buf, c.pos = c.buf[:0], 0
	visit := func(it treeItem) bool {
		if c.started && bytes.Equal(it.key, c.last) {
			return true
		}
		if c.reverse {
			if c.to != nil && bytes.Compare(it.key, c.to) >= 0 {
				return true
			}
			if c.from != nil && bytes.Compare(it.key, c.from) < 0 {
				return false
			}
		} else if c.to != nil && bytes.Compare(it.key, c.to) >= 0 {
			return false
		}
		c.buf = append(c.buf, it)
		return len(c.buf) < cursorChunk
	}
	switch {
	case c.reverse && c.started:
		c.tree.DescendLessOrEqual(treeItem{key: c.last}, visit)
	case c.reverse && c.to != nil:
		c.tree.DescendLessOrEqual(treeItem{key: c.to}, visit)
	case c.reverse:
		c.tree.Descend(visit)
	case c.started:
		c.tree.AscendGreaterOrEqual(treeItem{key: c.last}, visit)
	case c.from != nil:
		c.tree.AscendGreaterOrEqual(treeItem{key: c.from}, visit)
	default:
		c.tree.Ascend(visit)
	}
	if len(c.buf) < cursorChunk {
		c.done = true
		c.release()
	}
}
