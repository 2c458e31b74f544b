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
	pending      *sharedTree // the overlay; iterators read it in place
	pendingBytes int
	maxPending   int
	ts           uint64 // newest version written; reads see everything up to it
	commitTs     uint64 // version of the last marker
	offsets      map[string]int64
	iters        map[*badgerIterator]struct{}
	closed       bool
	onClose      func()

	// opts opens db for ordinary work; restoreOpts, when set, opens it with larger
	// memtables for a bulk restore (see Restore), and restoring says which is open.
	opts        badger.Options
	restoreOpts *badger.Options
	restoring   bool
}

// openBadgerEngine wraps db, a managed instance opened with opts, and rolls back
// whatever was written after its last commit. restoreOpts, if not nil, are the options
// Restore reopens it with.
func openBadgerEngine(db *badger.DB, opts badger.Options, restoreOpts *badger.Options, maxPending int) (*badgerEngine, error) {
	e := &badgerEngine{
		db:          db,
		pending:     newSharedTree(newTree()),
		maxPending:  maxPending,
		iters:       map[*badgerIterator]struct{}{},
		opts:        opts,
		restoreOpts: restoreOpts,
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
	return e.writeMarker(e.offsets, false)
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
	if it, ok := e.pending.t.Get(treeItem{key: key}); ok {
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
	if err := e.writable(); err != nil {
		return err
	}
	e.addPending(treeItem{key: bytes.Clone(key), value: cloneValue(value)})
	return e.maybeSpill()
}

func (e *badgerEngine) Delete(key []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.writable(); err != nil {
		return err
	}
	e.addPending(treeItem{key: bytes.Clone(key), del: true})
	return e.maybeSpill()
}

func (e *badgerEngine) addPending(it treeItem) {
	e.pending.forWrite().ReplaceOrInsert(it)
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
	if e.pending.t.Len() == 0 {
		return nil
	}
	e.ts++
	wb := e.db.NewWriteBatchAt(e.ts)
	defer wb.Cancel()
	var err error
	e.pending.t.Ascend(func(it treeItem) bool {
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
	e.pending.replace(newTree())
	e.pendingBytes = 0
	return nil
}

// DeletePrefix puts a tombstone in the overlay for every key under prefix, so its
// cost grows with the number of keys it removes.
func (e *badgerEngine) DeletePrefix(prefix []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.writable(); err != nil {
		return err
	}
	var doomed [][]byte
	e.pending.t.AscendGreaterOrEqual(treeItem{key: prefix}, func(it treeItem) bool {
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
	// An open iterator pins the instance, so a restore ends before one is made.
	if err := e.writable(); err != nil {
		return nil, err
	}
	from, to = bytes.Clone(from), bytes.Clone(to)
	txn := e.db.NewTransactionAt(e.ts, false)
	bit := txn.NewIterator(badger.IteratorOptions{Reverse: reverse, Prefix: []byte{dataPrefix}})
	it := &badgerIterator{
		e:       e,
		readTs:  e.ts,
		txn:     txn,
		bit:     bit,
		over:    e.pending.cursor(from, to, reverse),
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
	if err := e.writable(); err != nil {
		return err
	}
	// An overlay that fits in one Badger transaction goes in with the marker: one synced
	// write instead of two, and Badger replays a transaction whole or not at all.
	// pendingBytes counts more per entry than Badger does, so this rarely guesses wrong.
	if e.pendingBytes < int(e.db.MaxBatchSize()) && e.pending.t.Len() < int(e.db.MaxBatchCount()) {
		err := e.writeMarker(offsets, true)
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return err
		}
	}
	if err := e.spill(); err != nil {
		return err
	}
	return e.writeMarker(offsets, false)
}

// writeMarker seals everything up to e.ts, and the overlay too if withPending is set:
// the marker goes in at the next version with a synced write (the DB runs with
// SyncWrites), which also makes every earlier write in Badger's logs durable. With
// withPending, an overlay too large for one transaction returns badger.ErrTxnTooBig
// and changes nothing.
func (e *badgerEngine) writeMarker(offsets map[string]int64, withPending bool) error {
	c := e.ts + 1
	txn := e.db.NewTransactionAt(e.ts, true)
	defer txn.Discard()
	var err error
	if withPending {
		e.pending.t.Ascend(func(it treeItem) bool {
			if it.del {
				err = txn.Delete(dataKey(it.key))
			} else {
				err = txn.Set(dataKey(it.key), it.value)
			}
			return err == nil
		})
	}
	if err == nil {
		err = txn.Set(markerKey, encodeMarker(c, offsets))
	}
	if err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	e.ts = c
	if err := txn.CommitAt(c, nil); err != nil {
		// A failed write keeps the overlay (it hides whatever part landed), as spill does.
		return fmt.Errorf("state: commit: %w", err)
	}
	if withPending {
		e.pending.replace(newTree())
		e.pendingBytes = 0
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

// Restore reopens the instance with restore memtables only for a batch of at least
// 1/restoreModeMin of an ordinary memtable: a short changelog tail is not worth the
// two reopens (about 10 ms each).
const restoreModeMin = 4

// Restore keeps the last record of each key in the batch and writes them through a
// managed WriteBatch at one new version, then commits. It bypasses the overlay (after
// spilling it), so a batch of any size costs no memory beyond Badger's own batches;
// Badger has copied the batch when Restore returns.
//
// A large batch first reopens the instance with RestoreMemTableSize memtables (unless
// an iterator is open on it): with small memtables much of a restore's cost is Badger
// flushing them into level-0 tables and compacting those, which larger memtables cut.
// The instance stays so while only Restore and Get are called and goes back to
// MemTableSize at the next other call, so the memory is only held while restoring.
// SyncWrites stays on: with it off, Badger syncs only the newest memtable's log in
// DB.Sync, so records in a memtable rotated out during the batch could be lost by a
// power failure after the marker had been made durable.
func (e *badgerEngine) Restore(batch []KV, offsets map[string]int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.spill(); err != nil {
		return err
	}
	// Every data key goes in one buffer, and the set of keys seen holds substrings of one
	// string copy of it: two allocations per batch rather than two per record.
	size, n := int64(0), 0
	for _, kv := range batch {
		size += int64(len(kv.Key) + len(kv.Value))
		n += 1 + len(kv.Key)
	}
	if size >= e.opts.MemTableSize/restoreModeMin {
		if err := e.setRestoring(true); err != nil {
			return err
		}
	}
	keys := make([]byte, 0, n)
	ends := make([]int, len(batch))
	for i, kv := range batch {
		keys = append(append(keys, dataPrefix), kv.Key...)
		ends[i] = len(keys)
	}
	keyStr := string(keys)
	seen := make(map[string]struct{}, len(batch))
	v := e.ts + 1
	wb := e.db.NewWriteBatchAt(v)
	defer wb.Cancel()
	// Backwards, so the first record met of a key is its last; all go in at version v,
	// so the order they are written in does not matter.
	for i := len(batch) - 1; i >= 0; i-- {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		had := len(seen)
		seen[keyStr[start:ends[i]]] = struct{}{}
		if len(seen) == had {
			continue // a later record of the key is written already
		}
		k := keys[start:ends[i]:ends[i]]
		var err error
		if batch[i].Value == nil {
			err = wb.Delete(k)
		} else {
			err = wb.Set(k, batch[i].Value)
		}
		if err != nil {
			return fmt.Errorf("state: restore: %w", err)
		}
	}
	e.ts = v
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	return e.writeMarker(offsets, false)
}

// writable readies the engine for a call other than Restore and Get: it must be open,
// and out of restore mode. The lock is held.
func (e *badgerEngine) writable() error {
	if e.closed {
		return ErrClosed
	}
	return e.setRestoring(false)
}

// setRestoring closes the Badger instance and opens it again with the restore options
// or the ordinary ones. Nothing else changes: the data, versions and marker are the
// same, so a crash at any point of it is one at the current state. It does nothing
// while an iterator holds the instance. If the instance cannot be opened again the
// engine is closed. The lock is held.
func (e *badgerEngine) setRestoring(on bool) error {
	if e.restoring == on || e.restoreOpts == nil || len(e.iters) > 0 {
		return nil
	}
	opts := e.opts
	if on {
		opts = *e.restoreOpts
	}
	err := e.db.Close()
	if err == nil {
		e.db, err = openBadger(opts)
	}
	if err != nil {
		e.closed, e.pending = true, nil
		if e.onClose != nil {
			e.onClose()
		}
		return fmt.Errorf("state: reopen badger (restoring=%t): %w", on, err)
	}
	e.restoring = on
	e.db.SetDiscardTs(e.discardTs())
	return nil
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

// badgerIterator merges the overlay as it was when Iterate was called (see sharedTree)
// with a Badger iterator reading at the version current then; overlay entries win and
// its tombstones hide keys.
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
	buf                []byte // holds value when it comes from Badger
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
			// Value is valid until the next Next, so one buffer serves every entry.
			v, err := it.bit.Item().ValueCopy(it.buf)
			if err != nil {
				return it.stop(fmt.Errorf("state: iterate: %w", err))
			}
			it.buf = v
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
	it.over.release()
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
