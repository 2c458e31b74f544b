package state

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// BenchmarkBadgerCommit measures one Commit after a few writes: the overlay spill plus
// the synced marker write, which is dominated by the fsync.
func BenchmarkBadgerCommit(b *testing.B) {
	for _, writes := range []int{0, 10, 1000} {
		b.Run(fmt.Sprintf("writes=%d", writes), func(b *testing.B) {
			p, err := NewBadgerProvider(b.TempDir(), BadgerOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			e, err := p.Open("0_0", "bench")
			if err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			b.ResetTimer()
			for i := range b.N {
				for k := range writes {
					if err := e.Put(fmt.Appendf(nil, "k%d", k), value); err != nil {
						b.Fatal(err)
					}
				}
				if err := e.Commit(map[string]int64{"c": int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBadgerRestore measures bulk restore through Restorer with 100-byte values
// in batches of 10,000 records, with the default restore memtables and without them.
// The timed part ends with the Commit that takes the store out of restore mode, so it
// includes flushing the last memtable.
func BenchmarkBadgerRestore(b *testing.B) {
	for _, bc := range []struct {
		name       string
		restoreMem int64
	}{
		{"restore-memtables=32MiB", 0},
		{"restore-memtables=off", -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := NewBadgerProvider(b.TempDir(), BadgerOptions{RestoreMemTableSize: bc.restoreMem})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			e, err := p.Open("0_0", "bench")
			if err != nil {
				b.Fatal(err)
			}
			const batchSize = 10000
			value := make([]byte, 100)
			batch := make([]KV, batchSize)
			b.ResetTimer()
			for i := range b.N {
				for j := range batch {
					batch[j] = KV{Key: fmt.Appendf(nil, "key-%012d", i*batchSize+j), Value: value}
				}
				if err := e.(Restorer).Restore(batch, map[string]int64{"c": int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.Commit(map[string]int64{"c": int64(b.N)}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// The tests below cover what the restore speed-ups added to the Badger engine: restore
// mode (reopening with larger memtables) and the single-transaction Commit.

// restoreTestOptions enter restore mode for batches from 16 KiB.
var restoreTestOptions = BadgerOptions{MemTableSize: 64 << 10, RestoreMemTableSize: 1 << 20}

func restoreBatch(round, n int) []KV {
	batch := make([]KV, n)
	for i := range batch {
		batch[i] = KV{Key: fmt.Appendf(nil, "r%d/%05d", round, i), Value: make([]byte, 100)}
	}
	return batch
}

func TestBadgerRestoreMode(t *testing.T) {
	dir := t.TempDir()
	p, err := NewBadgerProvider(dir, restoreTestOptions)
	noErr(t, err)
	e, err := p.Open("0_0", "store")
	noErr(t, err)
	be := e.(*badgerEngine)
	r := e.(Restorer)
	noErr(t, e.Put([]byte("x"), []byte("pending")))

	// An open iterator pins the instance: no reopen, but the batch is applied.
	it, err := e.Iterate(nil, nil, false)
	noErr(t, err)
	noErr(t, r.Restore(restoreBatch(1, 500), map[string]int64{"c": 1}))
	if be.restoring {
		t.Fatal("entered restore mode with an iterator open")
	}
	noErr(t, it.Close())

	noErr(t, r.Restore(restoreBatch(2, 500), map[string]int64{"c": 2}))
	if !be.restoring {
		t.Fatal("a 500-record batch did not enter restore mode")
	}
	// Reads and small batches keep restore mode.
	if v, found, err := e.Get([]byte("r1/00007")); err != nil || !found || len(v) != 100 {
		t.Fatalf("get in restore mode: %d bytes, found %t, err %v", len(v), found, err)
	}
	noErr(t, r.Restore([]KV{{Key: []byte("r1/00000")}, {Key: []byte("small"), Value: []byte("1")}}, map[string]int64{"c": 3}))
	if !be.restoring {
		t.Fatal("left restore mode on a read or a small batch")
	}
	noErr(t, e.Put([]byte("y"), []byte("after")))
	if be.restoring {
		t.Fatal("still in restore mode after a Put")
	}
	noErr(t, e.Commit(map[string]int64{"c": 4}))

	check := func(e Engine) {
		t.Helper()
		got := scan(t, e, nil, nil, false)
		if len(got) != 1002 || got[0] != "r1/00001="+string(make([]byte, 100)) ||
			!slices.Contains(got, "x=pending") || !slices.Contains(got, "small=1") || !slices.Contains(got, "y=after") {
			t.Fatalf("%d keys, first %q", len(got), got[0])
		}
		if off, _ := e.CommittedOffsets(); !maps.Equal(off, map[string]int64{"c": 4}) {
			t.Fatalf("offsets %v", off)
		}
	}
	check(e)
	noErr(t, p.Close())
	p, err = NewBadgerProvider(dir, restoreTestOptions)
	noErr(t, err)
	defer p.Close()
	e, err = p.Open("0_0", "store")
	noErr(t, err)
	check(e)
}

// TestBadgerCommitLargeOverlay commits an overlay too large for one Badger
// transaction, which takes the spill-then-marker path.
func TestBadgerCommitLargeOverlay(t *testing.T) {
	dir := t.TempDir()
	p, err := NewBadgerProvider(dir, BadgerOptions{})
	noErr(t, err)
	e, err := p.Open("0_0", "store")
	noErr(t, err)
	const n = 5000 // about 750 KiB of overlay; a transaction holds about 300 KiB
	for i := range n {
		noErr(t, e.Put(fmt.Appendf(nil, "k%05d", i), make([]byte, 100)))
	}
	if be := e.(*badgerEngine); be.pendingBytes < int(be.db.MaxBatchSize()) {
		t.Fatalf("overlay of %d bytes fits in one transaction of %d", be.pendingBytes, be.db.MaxBatchSize())
	}
	noErr(t, e.Commit(map[string]int64{"c": 1}))
	noErr(t, e.Put([]byte("uncommitted"), nil))
	noErr(t, p.Close())

	p, err = NewBadgerProvider(dir, BadgerOptions{})
	noErr(t, err)
	defer p.Close()
	e, err = p.Open("0_0", "store")
	noErr(t, err)
	if got := scan(t, e, nil, nil, false); len(got) != n {
		t.Fatalf("%d keys after reopen, want %d", len(got), n)
	}
	if off, _ := e.CommittedOffsets(); off["c"] != 1 {
		t.Fatalf("offsets %v", off)
	}
}
