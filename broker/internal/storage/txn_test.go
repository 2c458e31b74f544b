package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnBatch is an idempotent batch of n records with the transactional bit.
func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	b := idemBatch(t, pid, epoch, seq, n)
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | attrTransactional
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b
}

// txnOp is one step of a transactional script: 'd' n transactional records
// of pid, 'p' n plain records, 'c' / 'a' a COMMIT / ABORT marker for pid.
type txnOp struct {
	kind byte
	pid  int64
	n    int
}

// txnModel is what the log should know after a script.
type txnModel struct {
	seq     map[int64]int32
	ongoing map[int64]int64 // pid -> first offset
	aborted []AbortedTxn
}

func newTxnModel() *txnModel {
	return &txnModel{seq: map[int64]int32{}, ongoing: map[int64]int64{}}
}

// run applies ops to l and to the model; under FsyncAlways every step is
// made durable, as the broker does before answering.
func (m *txnModel) run(t *testing.T, l *Log, ops []txnOp) {
	t.Helper()
	for _, op := range ops {
		var info AppendInfo
		var err error
		switch op.kind {
		case 'p':
			info, err = l.Append(recordsBatch(t, op.n, 0, 10), AppendOptions{})
		case 'd':
			info, err = l.Append(txnBatch(t, op.pid, 0, m.seq[op.pid], op.n), AppendOptions{})
			m.seq[op.pid] += int32(op.n)
			if _, ok := m.ongoing[op.pid]; !ok && err == nil {
				m.ongoing[op.pid] = info.BaseOffset
			}
		case 'c', 'a':
			info, err = l.AppendMarker(op.pid, 0, op.kind == 'c', 0)
			if first, ok := m.ongoing[op.pid]; ok && err == nil {
				delete(m.ongoing, op.pid)
				if op.kind == 'a' {
					m.aborted = append(m.aborted, AbortedTxn{op.pid, first, info.BaseOffset})
				}
			}
		}
		if err != nil {
			t.Fatalf("%c %d: %v", op.kind, op.pid, err)
		}
		if err := l.WaitDurable(context.Background(), info.LastOffset); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(m.aborted, func(a, b AbortedTxn) int { return int(a.FirstOffset - b.FirstOffset) })
}

func (m *txnModel) stable(hw int64) int64 {
	for _, f := range m.ongoing {
		hw = min(hw, f)
	}
	return hw
}

// abortedIn is what a read of [from, to) must list.
func (m *txnModel) abortedIn(from, to int64) []AbortedTxn {
	var out []AbortedTxn
	for _, a := range m.aborted {
		if a.LastOffset >= from && a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// check compares the log's transaction state with the model: the last
// stable offset, the producers' transactions, the whole aborted index and
// ReadCommitted from every offset, with small and large reads.
func (m *txnModel) check(t *testing.T, l *Log) {
	t.Helper()
	hw := l.HighWatermark()
	want := m.stable(hw)
	if got := l.LastStableOffset(); got != want {
		t.Fatalf("last stable offset %d, want %d (hw %d)", got, want, hw)
	}
	for _, p := range l.Producers() {
		first, ok := m.ongoing[p.ProducerID]
		if !ok {
			first = -1
		}
		if p.CurrentTxnStartOffset != first {
			t.Fatalf("producer %d transaction starts at %d, want %d", p.ProducerID, p.CurrentTxnStartOffset, first)
		}
	}
	if got := l.abortedBetween(0, hw); !slices.Equal(got, m.abortedIn(0, hw)) {
		t.Fatalf("aborted index\n got %v\nwant %v", got, m.aborted)
	}
	for _, maxBytes := range []int{1, 1 << 20} {
		for off := l.LogStartOffset(); off <= hw; off++ {
			res, err := l.ReadCommitted(off, maxBytes, true)
			if err != nil {
				t.Fatalf("read committed %d: %v", off, err)
			}
			if res.LastStableOffset != want || res.HighWatermark != hw {
				t.Fatalf("read %d: bounds %d/%d, want %d/%d", off, res.LastStableOffset, res.HighWatermark, want, hw)
			}
			bs, err := SplitBatches(res.Data)
			if err != nil {
				t.Fatal(err)
			}
			if off >= want {
				if len(bs) != 0 || res.Aborted != nil {
					t.Fatalf("read %d at or past the stable offset %d returned %d batches, aborted %v", off, want, len(bs), res.Aborted)
				}
				continue
			}
			if len(bs) == 0 {
				t.Fatalf("read %d below the stable offset %d returned nothing", off, want)
			}
			next := parseHeader(bs[len(bs)-1]).lastOffset + 1
			if next > want {
				t.Fatalf("read %d returned offsets up to %d, past the stable offset %d", off, next-1, want)
			}
			if wantAb := m.abortedIn(off, next); !slices.Equal(res.Aborted, wantAb) {
				t.Fatalf("read %d-%d: aborted %v, want %v", off, next, res.Aborted, wantAb)
			}
		}
	}
}

// randomTxnOps interleaves transactions of producers 1-3 with plain data.
func randomTxnOps(seed uint64, n int) []txnOp {
	r := rand.New(rand.NewPCG(seed, 0))
	var ops []txnOp
	open := map[int64]bool{}
	for range n {
		pid := int64(1 + r.IntN(3))
		switch k := r.IntN(10); {
		case k < 3:
			ops = append(ops, txnOp{kind: 'p', n: 1 + r.IntN(3)})
		case k < 7 || !open[pid]:
			ops = append(ops, txnOp{kind: 'd', pid: pid, n: 1 + r.IntN(3)})
			open[pid] = true
		case k < 8:
			ops = append(ops, txnOp{kind: 'c', pid: pid})
			open[pid] = false
		default:
			ops = append(ops, txnOp{kind: 'a', pid: pid})
			open[pid] = false
		}
	}
	return ops
}

func txnConfig() Config {
	c := smallConfig()
	c.SegmentBytes = 1024
	c.IndexIntervalBytes = 128
	return c
}

func TestTxnInterleaved(t *testing.T) {
	tests := []struct {
		name string
		ops  []txnOp
	}{
		{"commit", []txnOp{{'d', 1, 2}, {'p', 0, 1}, {'d', 1, 1}, {'c', 1, 0}, {'p', 0, 1}}},
		{"abort", []txnOp{{'d', 1, 2}, {'p', 0, 1}, {'d', 1, 1}, {'a', 1, 0}, {'p', 0, 1}}},
		{"nested producers", []txnOp{
			{'d', 1, 1}, {'d', 2, 2}, {'p', 0, 1}, {'a', 2, 0}, {'d', 3, 1}, {'c', 1, 0}, {'d', 2, 1}, {'a', 3, 0},
		}},
		{"marker without transaction", []txnOp{{'p', 0, 1}, {'a', 5, 0}, {'c', 6, 0}, {'p', 0, 1}}},
		{"ongoing at the end", []txnOp{{'d', 1, 1}, {'a', 1, 0}, {'d', 1, 2}, {'p', 0, 2}}},
		{"random", randomTxnOps(1, 120)},
	}
	for _, policy := range []FsyncPolicy{FsyncOS, FsyncAlways} {
		for _, tt := range tests {
			t.Run(policy.String()+"/"+tt.name, func(t *testing.T) {
				l := openLog(t, t.TempDir(), txnConfig(), Options{Fsync: policy})
				m := newTxnModel()
				for i := range tt.ops {
					m.run(t, l, tt.ops[i:i+1])
					if tt.name != "random" || i%10 == 0 {
						m.check(t, l)
					}
				}
				m.check(t, l)
			})
		}
	}
}

func TestTxnStableOffsetWaitsForDurableMarker(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "commit", false: "abort"}[commit], func(t *testing.T) {
			l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncAlways})
			ctx := context.Background()
			mustAppend(t, l, recordsBatch(t, 1, 0, 10))
			data := mustAppend(t, l, txnBatch(t, 7, 0, 0, 2))
			if err := l.WaitDurable(ctx, data.LastOffset); err != nil {
				t.Fatal(err)
			}
			if hw, lso := l.HighWatermark(), l.LastStableOffset(); hw != 3 || lso != 1 {
				t.Fatalf("open transaction: hw %d lso %d, want 3 and 1", hw, lso)
			}
			ch := make(chan struct{}, 1)
			defer l.Watch(ch)()
			mk, err := l.AppendMarker(7, 0, commit, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Appended but not durable: the marker does not count yet.
			if lso := l.LastStableOffset(); lso != 1 {
				t.Fatalf("marker not yet durable: lso %d, want 1", lso)
			}
			if res, err := l.ReadCommitted(1, 1<<20, true); err != nil || len(res.Data) != 0 || res.Aborted != nil {
				t.Fatalf("read committed before the marker is durable: %d bytes, %v, %v", len(res.Data), res.Aborted, err)
			}
			if err := l.WaitDurable(ctx, mk.LastOffset); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatal("no wake-up when the marker became durable")
			}
			if lso := l.LastStableOffset(); lso != 4 {
				t.Fatalf("durable marker: lso %d, want 4", lso)
			}
			res, err := l.ReadCommitted(1, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			if bs, _ := SplitBatches(res.Data); len(bs) != 2 {
				t.Fatalf("read committed: %d batches, want data and marker", len(bs))
			}
			var want []AbortedTxn
			if !commit {
				want = []AbortedTxn{{7, 1, 3}}
			}
			if !slices.Equal(res.Aborted, want) {
				t.Fatalf("aborted %v, want %v", res.Aborted, want)
			}
		})
	}
}

func TestTxnWatchWakesOnMarker(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	mustAppend(t, l, txnBatch(t, 1, 0, 0, 1))
	ch := make(chan struct{}, 1)
	defer l.Watch(ch)()
	if _, err := l.AppendMarker(1, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("a marker moving the last stable offset did not wake the watcher")
	}
	if lso := l.LastStableOffset(); lso != 2 {
		t.Fatalf("lso %d, want 2", lso)
	}
}

func TestReadCommittedBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	mustAppend(t, l, recordsBatch(t, 2, 0, 10)) // 0-1
	mustAppend(t, l, txnBatch(t, 1, 0, 0, 2))   // 2-3
	mustAppend(t, l, recordsBatch(t, 1, 0, 10)) // 4
	if _, err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		offset  int64
		wantErr error
		wantN   int // batches
	}{
		{0, ErrOffsetOutOfRange, 0},
		{1, nil, 1},
		{2, nil, 0}, // the stable offset
		{4, nil, 0}, // between stable offset and high watermark
		{5, nil, 0}, // the high watermark
		{6, ErrOffsetOutOfRange, 0},
	}
	for _, tt := range tests {
		res, err := l.ReadCommitted(tt.offset, 1<<20, true)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("offset %d: %v, want %v", tt.offset, err, tt.wantErr)
		}
		if bs, _ := SplitBatches(res.Data); len(bs) != tt.wantN {
			t.Fatalf("offset %d: %d batches, want %d", tt.offset, len(bs), tt.wantN)
		}
		if err == nil && (res.LastStableOffset != 2 || res.HighWatermark != 5 || res.LogStartOffset != 1) {
			t.Fatalf("offset %d: bounds %+v", tt.offset, res)
		}
	}
	// Read (read_uncommitted) reports the stable offset too.
	if res, err := l.Read(2, 1<<20, true); err != nil || res.LastStableOffset != 2 || len(res.Data) == 0 {
		t.Fatalf("read uncommitted: %+v %v", res, err)
	}
}

func TestMarkerBatchFormat(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS, Now: clock.Now})
	mustAppend(t, l, txnBatch(t, 42, 3, 0, 1))
	info, err := l.AppendMarker(42, 3, false, 9)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Read(info.BaseOffset, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := SplitBatches(res.Data) // checks the CRC-32C
	if err != nil || len(bs) != 1 {
		t.Fatalf("%d batches, %v", len(bs), err)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(bs[0]); err != nil {
		t.Fatal(err)
	}
	now := clock.Now().UnixMilli()
	if rb.Attributes != attrControl|attrTransactional || rb.ProducerID != 42 || rb.ProducerEpoch != 3 ||
		rb.FirstSequence != -1 || rb.NumRecords != 1 || rb.FirstTimestamp != now || rb.MaxTimestamp != now ||
		rb.FirstOffset != info.BaseOffset || rb.LastOffsetDelta != 0 {
		t.Fatalf("marker batch %+v", rb)
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(rb.Records); err != nil {
		t.Fatal(err)
	}
	var key kmsg.ControlRecordKey
	var val kmsg.EndTxnMarker
	if err := key.ReadFrom(rec.Key); err != nil || key.Type != kmsg.ControlRecordKeyTypeAbort {
		t.Fatalf("key %+v %v", key, err)
	}
	if err := val.ReadFrom(rec.Value); err != nil || val.CoordinatorEpoch != 9 {
		t.Fatalf("value %+v %v", val, err)
	}
	got := l.Producers()
	want := []ProducerInfo{{ProducerID: 42, Epoch: 3, LastSequence: 0, LastTimestamp: now, CoordinatorEpoch: 9, CurrentTxnStartOffset: -1}}
	if !slices.Equal(got, want) {
		t.Fatalf("producers %+v, want %+v", got, want)
	}
	if pid, epoch, txn := BatchProducer(bs[0]); pid != 42 || epoch != 3 || !txn {
		t.Fatalf("BatchProducer: %d %d %v", pid, epoch, txn)
	}
	if pid, _, txn := BatchProducer(recordsBatch(t, 1, 0, 1)); pid != -1 || txn {
		t.Fatalf("BatchProducer of a plain batch: %d %v", pid, txn)
	}
	if pid, _, _ := BatchProducer([]byte{1, 2}); pid != -1 {
		t.Fatalf("BatchProducer of a short slice: %d", pid)
	}
}

func TestMarkerEpochFencing(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	mustAppend(t, l, txnBatch(t, 1, 2, 0, 1))
	mustAppend(t, l, txnBatch(t, 1, 2, 1, 1))
	end := l.EndOffset()
	if _, err := l.AppendMarker(1, 1, true, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker with an old epoch: %v", err)
	}
	if l.EndOffset() != end || l.LastStableOffset() != 0 {
		t.Fatalf("fenced marker changed the log: end %d lso %d", l.EndOffset(), l.LastStableOffset())
	}
	// The coordinator aborts with a bumped epoch, fencing the old producer.
	if _, err := l.AppendMarker(1, 3, false, 0); err != nil {
		t.Fatal(err)
	}
	if l.LastStableOffset() != l.HighWatermark() {
		t.Fatalf("lso %d after the abort, hw %d", l.LastStableOffset(), l.HighWatermark())
	}
	if _, err := l.Append(txnBatch(t, 1, 2, 2, 1), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after the bump: %v", err)
	}
	info := mustAppend(t, l, txnBatch(t, 1, 3, 0, 1))
	if got := l.LastStableOffset(); got != info.BaseOffset {
		t.Fatalf("new transaction: lso %d, want %d", got, info.BaseOffset)
	}
	if got := l.abortedBetween(0, l.EndOffset()); !slices.Equal(got, []AbortedTxn{{1, 0, 2}}) {
		t.Fatalf("aborted %v", got)
	}
}

// txnDirFiles lists dir's files with extension ext.
func txnDirFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) {
			out = append(out, e.Name())
		}
	}
	return out
}

// txnHistory fills a log with interleaved transactions across several
// segments and leaves transactions open; the last abort is in the active
// segment.
var txnHistory = append(randomTxnOps(7, 150), txnOp{'d', 2, 2}, txnOp{'p', 0, 1}, txnOp{'d', 1, 1}, txnOp{'a', 1, 0})

func TestTxnRecovery(t *testing.T) {
	tail := []txnOp{{'d', 3, 1}, {'a', 3, 0}, {'p', 0, 1}, {'d', 3, 1}}
	tests := []struct {
		name string
		// prepare turns the directory of a live log (closed when
		// closeFirst) into the one to reopen.
		closeFirst bool
		prepare    func(t *testing.T, dir string)
	}{
		{"clean close", true, func(*testing.T, string) {}},
		{"crash", false, func(*testing.T, string) {}},
		{"crash without snapshots", false, func(t *testing.T, dir string) {
			removeFiles(t, dir, extSnapshot)
		}},
		{"closed txn indexes lost", true, func(t *testing.T, dir string) {
			removeFiles(t, dir, extTxnIndex)
		}},
		{"everything derived lost", false, func(t *testing.T, dir string) {
			removeFiles(t, dir, extTxnIndex)
			removeFiles(t, dir, extSnapshot)
			removeFiles(t, dir, extIndex)
		}},
		{"torn txn index", true, func(t *testing.T, dir string) {
			for _, name := range txnDirFiles(t, dir, extTxnIndex) {
				p := filepath.Join(dir, name)
				b, _ := os.ReadFile(p)
				if len(b) > 12 {
					os.WriteFile(p, b[:len(b)-7], 0o644)
				}
			}
		}},
	}
	for _, policy := range []FsyncPolicy{FsyncOS, FsyncAlways} {
		for _, tt := range tests {
			t.Run(policy.String()+"/"+tt.name, func(t *testing.T) {
				dir, crashDir := t.TempDir(), t.TempDir()
				cfg := txnConfig()
				opts := Options{Fsync: policy}
				m := newTxnModel()
				l, err := Open(dir, cfg, opts)
				if err != nil {
					t.Fatal(err)
				}
				m.run(t, l, txnHistory)
				if len(l.segs) < 4 || len(l.active.aborted) == 0 {
					t.Fatalf("history too small: %d segments, %d aborts in the active one", len(l.segs), len(l.active.aborted))
				}
				// Reopen once so that the active segment's aborts also live
				// in a Close snapshot, then write more.
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if l, err = Open(dir, cfg, opts); err != nil {
					t.Fatal(err)
				}
				m.check(t, l)
				m.run(t, l, tail)
				if tt.closeFirst {
					if err := l.Close(); err != nil {
						t.Fatal(err)
					}
					copyDir(t, dir, crashDir)
				} else {
					copyDir(t, dir, crashDir)
					l.Close()
				}
				tt.prepare(t, crashDir)
				l = openLog(t, crashDir, cfg, opts)
				m.check(t, l)
				if n := len(txnDirFiles(t, crashDir, extTxnIndex)); n < len(l.segs)-1 {
					t.Fatalf("%d txn index files for %d closed segments", n, len(l.segs)-1)
				}
				// The transactions left open still end normally.
				var end []txnOp
				for pid := range m.ongoing {
					end = append(end, txnOp{'a', pid, 0})
				}
				m.run(t, l, end)
				m.check(t, l)
				if l.LastStableOffset() != l.HighWatermark() {
					t.Fatalf("all ended: lso %d hw %d", l.LastStableOffset(), l.HighWatermark())
				}
			})
		}
	}
}

func removeFiles(t *testing.T, dir, ext string) {
	t.Helper()
	for _, name := range txnDirFiles(t, dir, ext) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTxnRecoveryTruncatedMarker(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig(), Options{Fsync: FsyncOS})
	m := newTxnModel()
	m.run(t, l, []txnOp{{'d', 1, 1}, {'d', 2, 1}, {'a', 2, 0}, {'p', 0, 1}, {'a', 1, 0}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Tear the last marker: producer 1's transaction is open again and its
	// abort is gone from the index.
	seg := activeSegment(t, dir)
	st, _ := os.Stat(seg)
	os.Truncate(seg, st.Size()-5)
	l = openLog(t, dir, DefaultConfig(), Options{Fsync: FsyncOS})
	m.ongoing[1] = 0
	m.aborted = []AbortedTxn{{2, 1, 2}}
	m.check(t, l)
	if l.LastStableOffset() != 0 {
		t.Fatalf("lso %d", l.LastStableOffset())
	}
}

func TestTxnIndexDeletedWithSegments(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := txnConfig()
	l := openLog(t, dir, cfg, Options{Fsync: FsyncOS, Now: clock.Now})
	m := newTxnModel()
	var ops []txnOp
	for range 20 {
		ops = append(ops, txnOp{'d', 1, 3}, txnOp{'p', 0, 3}, txnOp{'a', 1, 0})
	}
	m.run(t, l, ops)
	before := txnDirFiles(t, dir, extTxnIndex)
	if len(before) < 3 || len(before) != len(l.segs)-1 {
		t.Fatalf("%d txn index files for %d segments", len(before), len(l.segs))
	}
	cut := l.segs[2].base
	if _, err := l.DeleteRecordsBefore(cut); err != nil {
		t.Fatal(err)
	}
	after := txnDirFiles(t, dir, extTxnIndex)
	if len(after) != len(before)-2 || after[0] != segmentName(cut, extTxnIndex) {
		t.Fatalf("after DeleteRecordsBefore: %v", after)
	}
	c := cfg
	c.RetentionBytes = 0
	l.SetConfig(c)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if got := txnDirFiles(t, dir, extTxnIndex); len(got) != 0 {
		t.Fatalf("after retention: %v", got)
	}
	for _, a := range l.abortedBetween(0, l.EndOffset()) {
		if a.LastOffset < l.segs[0].base {
			t.Fatalf("aborted entry %v outlived its segment", a)
		}
	}
}

func TestTxnProducerNotEvictedWhileOpen(t *testing.T) {
	l := openLog(t, t.TempDir(), txnConfig(), Options{Fsync: FsyncOS})
	mustAppend(t, l, txnBatch(t, 1, 0, 0, 1))
	mustAppend(t, l, idemBatch(t, 2, 0, 0, 1))
	for range 30 {
		mustAppend(t, l, recordsBatch(t, 3, 0, 20))
	}
	if _, err := l.DeleteRecordsBefore(l.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	ps := l.Producers()
	if len(ps) != 1 || ps[0].ProducerID != 1 || ps[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("producers after deleting their data: %+v", ps)
	}
	if got := l.LastStableOffset(); got != l.LogStartOffset() {
		t.Fatalf("lso %d, want the log start %d", got, l.LogStartOffset())
	}
	if _, err := l.AppendMarker(1, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	if got := l.LastStableOffset(); got != l.HighWatermark() {
		t.Fatalf("lso %d after the commit, want %d", got, l.HighWatermark())
	}
}

// marshalV1 writes a snapshot the way the broker did before transactions.
func marshalV1(p producerStates) []byte {
	b := []byte("EPS1")
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	for id, e := range p {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(e.n))
		for _, m := range e.batches[:e.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.baseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.appendTime))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func TestProducerSnapshotV1Loads(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig(), Options{Fsync: FsyncOS})
	var last AppendInfo
	for i := range 3 {
		last = mustAppend(t, l, idemBatch(t, 4, 1, int32(i*2), 2))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snaps := txnDirFiles(t, dir, extSnapshot)
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v", snaps)
	}
	path := filepath.Join(dir, snaps[0])
	b, _ := os.ReadFile(path)
	p, _, err := unmarshalProducers(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, marshalV1(p), 0o644); err != nil {
		t.Fatal(err)
	}
	// The v1 snapshot is at the end offset, so nothing is replayed: the
	// duplicate is only caught if the v1 snapshot was read.
	l = openLog(t, dir, DefaultConfig(), Options{Fsync: FsyncOS})
	info, err := l.Append(idemBatch(t, 4, 1, 4, 2), AppendOptions{})
	if !errors.Is(err, ErrDuplicateSequence) || info.BaseOffset != last.BaseOffset {
		t.Fatalf("retry after a v1 snapshot: %+v %v", info, err)
	}
	ps := l.Producers()
	if len(ps) != 1 || ps[0].Epoch != 1 || ps[0].LastSequence != 5 || ps[0].CurrentTxnStartOffset != -1 || ps[0].CoordinatorEpoch != -1 {
		t.Fatalf("producers from a v1 snapshot: %+v", ps)
	}
}

func TestProducerSnapshotV2RoundTrip(t *testing.T) {
	p := producerStates{}
	h := batchHeader{producerID: 3, epoch: 2, baseSequence: 0, baseOffset: 10, lastOffset: 12, maxTimestamp: 99, attributes: attrTransactional}
	p.update(&h, -1)
	p[3].txnFirst, p[3].coordEpoch = 10, 4
	ab := []abortedEntry{{AbortedTxn{5, 1, 7}, 8}}
	got, gotAb, err := unmarshalProducers(p.marshal(ab))
	if err != nil {
		t.Fatal(err)
	}
	if *got[3] != *p[3] || !slices.Equal(gotAb, ab) {
		t.Fatalf("round trip: %+v %v", got[3], gotAb)
	}
	b := p.marshal(ab)
	b[len(b)-9] ^= 1
	if _, _, err := unmarshalProducers(b); err == nil {
		t.Fatal("corrupt snapshot accepted")
	}
}

// TestTxnConcurrentReaders checks that read_committed readers racing a
// transactional producer never see a transaction without its marker.
func TestTxnConcurrentReaders(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncOS, FsyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			// One segment: a read stops at a segment's end.
			l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: policy})
			done := make(chan struct{})
			errc := make(chan error, 1)
			go func() {
				defer close(done)
				ctx := context.Background()
				seq := int32(0)
				for i := range 150 {
					for range 2 {
						info, err := l.Append(txnBatch(t, 1, 0, seq, 2), AppendOptions{})
						if err == nil {
							err = l.WaitDurable(ctx, info.LastOffset)
						}
						if err != nil {
							errc <- err
							return
						}
						seq += 2
					}
					info, err := l.AppendMarker(1, 0, i%2 == 0, 0)
					if err == nil {
						err = l.WaitDurable(ctx, info.LastOffset)
					}
					if err != nil {
						errc <- err
						return
					}
				}
			}()
			for reading := true; reading; {
				select {
				case <-done:
					reading = false
				default:
				}
				res, err := l.ReadCommitted(0, 1<<20, true)
				if err != nil {
					t.Fatal(err)
				}
				bs, err := SplitBatches(res.Data)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(bs); n > 0 && parseHeader(bs[n-1]).attributes&attrControl == 0 {
					t.Fatalf("read committed ends in an open transaction at offset %d (lso %d)", parseHeader(bs[n-1]).baseOffset, res.LastStableOffset)
				}
				if n := len(bs); n > 0 && len(res.Aborted) != n/3/2 {
					t.Fatalf("%d batches with %d aborted transactions", n, len(res.Aborted))
				}
			}
			select {
			case err := <-errc:
				t.Fatal(err)
			default:
			}
		})
	}
}

// TestTxnIndexStaleFileRebuilt covers a roll whose .txnindex write was lost,
// leaving the file the previous Close wrote for the then active segment.
func TestTxnIndexStaleFileRebuilt(t *testing.T) {
	dir := t.TempDir()
	cfg := txnConfig()
	m := newTxnModel()
	l, err := Open(dir, cfg, Options{Fsync: FsyncOS})
	if err != nil {
		t.Fatal(err)
	}
	m.run(t, l, []txnOp{{'d', 1, 1}, {'a', 1, 0}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, segmentName(0, extTxnIndex))
	stale, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, Options{Fsync: FsyncOS})
	var ops []txnOp
	for range 8 {
		ops = append(ops, txnOp{'d', 2, 3}, txnOp{'a', 2, 0})
	}
	m.run(t, l, ops)
	if len(l.segs) < 2 {
		t.Fatal("no roll")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first, stale, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, Options{Fsync: FsyncOS})
	m.check(t, l)
}
