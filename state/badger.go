package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/btree"
)

// Key layout inside one Badger instance: user keys behind dataPrefix, the commit marker
// alone under metaPrefix, so user keys of any bytes never collide with it.
const (
	metaPrefix byte = 0
	dataPrefix byte = 1
)

// pendingOverhead approximates the overlay's bookkeeping per entry, so that many tiny
// writes still trigger a spill.
const pendingOverhead = 48

var markerKey = []byte{metaPrefix, 'c'}

// badgerEngine is an Engine on a Badger instance opened in managed mode, where the
// engine chooses every version. Writes collect in an in-memory overlay that reads merge
// in; the overlay spills to Badger at a new version when it grows past its limit and
// at Commit, and Commit then writes the marker (the offsets and the version it covers)
// with a synced write. Versions above the marker's are uncommitted: after a crash, open
// rolls them back, so the engine is exactly at its last Commit without ever needing one
// transaction as large as a commit interval's writes.
type badgerEngine struct {
	mu           sync.RWMutex
	db           *badger.DB
	pending      *btree.BTreeG[treeItem]
	pendingBytes int
	maxPending   int
	ts           uint64 // newest version written; reads see everything up to it
	commitTs     uint64 // version of the last marker
	offsets      map[string]int64
	iters        map[*badgerIterator]struct{}
	closed       bool
	onClose      func()
}

// openBadgerEngine wraps an open managed DB and rolls back whatever was written after
// its last commit.
func openBadgerEngine(db *badger.DB, maxPending int) (*badgerEngine, error) {
	e := &badgerEngine{
		db:         db,
		pending:    newTree(),
		maxPending: maxPending,
		iters:      map[*badgerIterator]struct{}{},
	}
	commitTs, offsets, err := readMarker(db)
	if err != nil {
		return nil, err
	}
	e.commitTs, e.offsets, e.ts = commitTs, offsets, commitTs
	if maxV := db.MaxVersion(); maxV > commitTs {
		if err := e.rollback(maxV); err != nil {
			return nil, err
		}
	}
	db.SetDiscardTs(e.commitTs)
	return e, nil
}

func readMarker(db *badger.DB) (uint64, map[string]int64, error) {
	txn := db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	item, err := txn.Get(markerKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, map[string]int64{}, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("state: read commit marker: %w", err)
	}
	raw, err := item.ValueCopy(nil)
	if err != nil {
		return 0, nil, fmt.Errorf("state: read commit marker: %w", err)
	}
	return decodeMarker(raw)
}

// rollback undoes every data version above commitTs (all of them at most maxV): each
// key written since is rewritten at maxV+1 with its value as of commitTs, or deleted,
// and a new marker with the same offsets seals it. A crash in between repeats the same
// work on the next open.
func (e *badgerEngine) rollback(maxV uint64) error {
	var keys [][]byte
	txn := e.db.NewTransactionAt(math.MaxUint64, false)
	it := txn.NewIterator(badger.IteratorOptions{
		AllVersions: true,
		SinceTs:     e.commitTs,
		Prefix:      []byte{dataPrefix},
	})
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if item.Version() <= e.commitTs {
			continue
		}
		if n := len(keys); n > 0 && bytes.Equal(keys[n-1], item.Key()) {
			continue
		}
		keys = append(keys, item.KeyCopy(nil))
	}
	it.Close()
	txn.Discard()

	old := e.db.NewTransactionAt(e.commitTs, false)
	defer old.Discard()
	wb := e.db.NewWriteBatchAt(maxV + 1)
	defer wb.Cancel()
	for _, k := range keys {
		item, err := old.Get(k)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			err = wb.Delete(k)
		case err == nil:
			var v []byte
			if v, err = item.ValueCopy(nil); err == nil {
				err = wb.Set(k, v)
			}
		}
		if err != nil {
			return fmt.Errorf("state: roll back to last commit: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("state: roll back to last commit: %w", err)
	}
	e.ts = maxV + 1
	return e.writeMarker(e.offsets)
}

func dataKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = dataPrefix
	copy(k[1:], key)
	return k
}

func (e *badgerEngine) Get(key []byte) ([]byte, bool, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, false, ErrClosed
	}
	if it, ok := e.pending.Get(treeItem{key: key}); ok {
		if it.del {
			return nil, false, nil
		}
		return it.value, true, nil
	}
	txn := e.db.NewTransactionAt(e.ts, false)
	defer txn.Discard()
	item, err := txn.Get(dataKey(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: get: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("state: get: %w", err)
	}
	return nonNil(v), true, nil
}

func (e *badgerEngine) Put(key, value []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.addPending(treeItem{key: bytes.Clone(key), value: cloneValue(value)})
	return e.maybeSpill()
}

func (e *badgerEngine) Delete(key []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.addPending(treeItem{key: bytes.Clone(key), del: true})
	return e.maybeSpill()
}

func (e *badgerEngine) addPending(it treeItem) {
	e.pending.ReplaceOrInsert(it)
	e.pendingBytes += len(it.key) + len(it.value) + pendingOverhead
}

func (e *badgerEngine) maybeSpill() error {
	if e.pendingBytes < e.maxPending {
		return nil
	}
	return e.spill()
}

// spill writes the overlay to Badger at the next version. Keys in the overlay are
// unique, so one version serves them all. If the write fails the overlay is kept (it
// hides whatever part landed) and the next spill rewrites it at a newer version.
func (e *badgerEngine) spill() error {
	if e.pending.Len() == 0 {
		return nil
	}
	e.ts++
	wb := e.db.NewWriteBatchAt(e.ts)
	defer wb.Cancel()
	var err error
	e.pending.Ascend(func(it treeItem) bool {
		if it.del {
			err = wb.Delete(dataKey(it.key))
		} else {
			err = wb.Set(dataKey(it.key), it.value)
		}
		return err == nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("state: write to badger: %w", err)
	}
	e.pending = newTree()
	e.pendingBytes = 0
	return nil
}

// DeletePrefix puts a tombstone in the overlay for every key under prefix, so its
// cost grows with the number of keys it removes.
func (e *badgerEngine) DeletePrefix(prefix []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	var doomed [][]byte
	e.pending.AscendGreaterOrEqual(treeItem{key: prefix}, func(it treeItem) bool {
		if !bytes.HasPrefix(it.key, prefix) {
			return false
		}
		if !it.del {
			doomed = append(doomed, it.key)
		}
		return true
	})
	txn := e.db.NewTransactionAt(e.ts, false)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: dataKey(prefix)})
	for it.Rewind(); it.Valid(); it.Next() {
		doomed = append(doomed, it.Item().KeyCopy(nil)[1:])
	}
	it.Close()
	txn.Discard()
	for _, k := range doomed {
		e.addPending(treeItem{key: k, del: true})
	}
	return e.maybeSpill()
}

func (e *badgerEngine) Iterate(from, to []byte, reverse bool) (Iterator, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	from, to = bytes.Clone(from), bytes.Clone(to)
	txn := e.db.NewTransactionAt(e.ts, false)
	bit := txn.NewIterator(badger.IteratorOptions{Reverse: reverse, Prefix: []byte{dataPrefix}})
	it := &badgerIterator{
		e:       e,
		readTs:  e.ts,
		txn:     txn,
		bit:     bit,
		over:    newTreeCursor(e.pending.Clone(), from, to, reverse),
		from:    from,
		to:      to,
		reverse: reverse,
	}
	switch {
	case !reverse:
		bit.Seek(dataKey(from))
	case to == nil:
		bit.Seek([]byte{dataPrefix + 1})
	default:
		bit.Seek(dataKey(to))
		if bit.Valid() && bytes.Equal(bit.Item().Key()[1:], to) {
			bit.Next()
		}
	}
	e.iters[it] = struct{}{}
	return it, nil
}

// ApproximateCount counts the keys with a keys-only scan merged with the overlay; it is
// exact, and costs a pass over the store.
func (e *badgerEngine) ApproximateCount() int64 {
	it, err := e.Iterate(nil, nil, false)
	if err != nil {
		return 0
	}
	defer it.Close()
	bi := it.(*badgerIterator)
	bi.keysOnly = true
	var n int64
	for it.Next() {
		n++
	}
	return n
}

func (e *badgerEngine) Commit(offsets map[string]int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.spill(); err != nil {
		return err
	}
	return e.writeMarker(offsets)
}

// writeMarker seals everything up to e.ts: the marker goes in at the next version with
// a synced write (the DB runs with SyncWrites), which also makes every earlier write in
// Badger's logs durable.
func (e *badgerEngine) writeMarker(offsets map[string]int64) error {
	c := e.ts + 1
	txn := e.db.NewTransactionAt(e.ts, true)
	defer txn.Discard()
	if err := txn.Set(markerKey, encodeMarker(c, offsets)); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	e.ts = c
	if err := txn.CommitAt(c, nil); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	e.commitTs = c
	e.offsets = maps.Clone(offsets)
	if e.offsets == nil {
		e.offsets = map[string]int64{}
	}
	e.db.SetDiscardTs(e.discardTs())
	return nil
}

// discardTs is the newest version below which Badger may drop superseded versions:
// the last commit, held back by the oldest open iterator's snapshot.
func (e *badgerEngine) discardTs() uint64 {
	ts := e.commitTs
	for it := range e.iters {
		ts = min(ts, it.readTs)
	}
	return ts
}

func (e *badgerEngine) CommittedOffsets() (map[string]int64, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	return maps.Clone(e.offsets), nil
}

// Restore writes the batch through a managed WriteBatch, one version per record so
// that a later record of a key wins, then commits. It bypasses the overlay (after
// spilling it), so a batch of any size costs no memory beyond Badger's own batches;
// Badger has copied the batch when Restore returns.
func (e *badgerEngine) Restore(batch []KV, offsets map[string]int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.spill(); err != nil {
		return err
	}
	wb := e.db.NewManagedWriteBatch()
	defer wb.Cancel()
	base := e.ts
	for i, kv := range batch {
		v := base + 1 + uint64(i)
		var err error
		if kv.Value == nil {
			err = wb.DeleteAt(dataKey(kv.Key), v)
		} else {
			err = wb.SetEntryAt(badger.NewEntry(dataKey(kv.Key), kv.Value), v)
		}
		if err != nil {
			return fmt.Errorf("state: restore: %w", err)
		}
	}
	e.ts = base + uint64(len(batch))
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	return e.writeMarker(offsets)
}

func (e *badgerEngine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for it := range e.iters {
		it.release()
	}
	e.pending = nil
	err := e.db.Close()
	e.mu.Unlock()
	if e.onClose != nil {
		e.onClose()
	}
	if err != nil {
		return fmt.Errorf("state: close badger: %w", err)
	}
	return nil
}

// badgerIterator merges a Clone of the overlay with a Badger iterator reading at the
// version current when Iterate was called; overlay entries win and its tombstones hide
// keys.
type badgerIterator struct {
	e        *badgerEngine
	readTs   uint64
	txn      *badger.Txn
	bit      *badger.Iterator
	over     *treeCursor
	from, to []byte
	reverse  bool
	keysOnly bool

	advOver, advBadger bool // cursors consumed by the previous Next
	key, value         []byte
	err                error
	done               bool
}

// badgerKey returns the user key under Badger's cursor, or false when it has left the
// range.
func (it *badgerIterator) badgerKey() ([]byte, bool) {
	if !it.bit.Valid() {
		return nil, false
	}
	k := it.bit.Item().Key()[1:]
	if it.reverse {
		return k, it.from == nil || bytes.Compare(k, it.from) >= 0
	}
	return k, it.to == nil || bytes.Compare(k, it.to) < 0
}

func (it *badgerIterator) Next() bool {
	if it.done {
		return false
	}
	it.e.mu.RLock()
	defer it.e.mu.RUnlock()
	if it.e.closed {
		return it.stop(ErrClosed)
	}
	if it.advOver {
		it.over.next()
	}
	if it.advBadger {
		it.bit.Next()
	}
	it.advOver, it.advBadger = false, false
	for {
		bk, bok := it.badgerKey()
		ook := it.over.valid()
		c := 0
		switch {
		case !ook && !bok:
			return it.stop(nil)
		case !ook:
			c = 1
		case !bok:
			c = -1
		default:
			c = bytes.Compare(it.over.item().key, bk)
			if it.reverse {
				c = -c
			}
		}
		if c > 0 {
			it.advBadger = true
			it.key = bk
			it.value = nil
			if it.keysOnly {
				return true
			}
			v, err := it.bit.Item().ValueCopy(nil)
			if err != nil {
				return it.stop(fmt.Errorf("state: iterate: %w", err))
			}
			it.value = nonNil(v)
			return true
		}
		o := it.over.item()
		if c == 0 {
			it.bit.Next()
		}
		if o.del {
			it.over.next()
			continue
		}
		it.advOver = true
		it.key, it.value = o.key, o.value
		return true
	}
}

func (it *badgerIterator) stop(err error) bool {
	it.err, it.done = err, true
	it.key, it.value = nil, nil
	return false
}

func (it *badgerIterator) Key() []byte   { return it.key }
func (it *badgerIterator) Value() []byte { return it.value }
func (it *badgerIterator) Err() error    { return it.err }

func (it *badgerIterator) Close() error {
	it.e.mu.Lock()
	defer it.e.mu.Unlock()
	if _, ok := it.e.iters[it]; ok {
		it.release()
	}
	it.stop(it.err)
	return nil
}

// release frees the Badger iterator and snapshot; the engine's lock is held.
func (it *badgerIterator) release() {
	it.bit.Close()
	it.txn.Discard()
	it.over = nil
	delete(it.e.iters, it)
}

// encodeMarker lays out the commit marker: the version it seals, then the offsets
// sorted by name, each as a length-prefixed name and a varint.
func encodeMarker(version uint64, offsets map[string]int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, version)
	b = binary.AppendUvarint(b, uint64(len(offsets)))
	for _, k := range slices.Sorted(maps.Keys(offsets)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendVarint(b, offsets[k])
	}
	return b
}

func decodeMarker(b []byte) (uint64, map[string]int64, error) {
	bad := func(what string) (uint64, map[string]int64, error) {
		return 0, nil, fmt.Errorf("state: commit marker: %s: %w", what, ErrCorrupt)
	}
	if len(b) < 8 {
		return bad("short")
	}
	version := binary.BigEndian.Uint64(b)
	b = b[8:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return bad("bad count")
	}
	b = b[w:]
	offsets := make(map[string]int64, n)
	for range n {
		l, w := binary.Uvarint(b)
		if w <= 0 || l > uint64(len(b)-w) {
			return bad("bad name")
		}
		name := string(b[w : w+int(l)])
		b = b[w+int(l):]
		off, w2 := binary.Varint(b)
		if w2 <= 0 {
			return bad("bad offset")
		}
		b = b[w2:]
		offsets[name] = off
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return version, offsets, nil
}

// nonNil turns the nil Badger returns for an empty value into an empty slice, since a
// found key never has a nil value.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
