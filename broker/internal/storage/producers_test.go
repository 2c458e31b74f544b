package storage

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestProducerRules(t *testing.T) {
	type step struct {
		pid     int64
		epoch   int16
		seq     int32
		n       int
		wantErr error
		dupOf   int // for duplicates: 1-based index of the step whose info is returned
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, 0, 0, 2, nil, 0}, {1, 0, 2, 3, nil, 0}, {1, 0, 5, 1, nil, 0}}},
		{"unknown producer not at 0", []step{{1, 0, 3, 1, ErrUnknownProducerID, 0}}},
		{"gap", []step{{1, 0, 0, 2, nil, 0}, {1, 0, 3, 1, ErrOutOfOrderSequence, 0}}},
		{"duplicate of last", []step{{1, 0, 0, 2, nil, 0}, {1, 0, 2, 1, nil, 0}, {1, 0, 2, 1, ErrDuplicateSequence, 2}}},
		{"duplicate of fifth-last", []step{
			{1, 0, 0, 1, nil, 0}, {1, 0, 1, 1, nil, 0}, {1, 0, 2, 1, nil, 0}, {1, 0, 3, 1, nil, 0},
			{1, 0, 4, 1, nil, 0}, {1, 0, 1, 1, ErrDuplicateSequence, 2},
		}},
		{"older than the last five", []step{
			{1, 0, 0, 1, nil, 0}, {1, 0, 1, 1, nil, 0}, {1, 0, 2, 1, nil, 0}, {1, 0, 3, 1, nil, 0},
			{1, 0, 4, 1, nil, 0}, {1, 0, 5, 1, nil, 0}, {1, 0, 0, 1, ErrOutOfOrderSequence, 0},
		}},
		{"same first seq, different length", []step{{1, 0, 0, 2, nil, 0}, {1, 0, 0, 3, ErrOutOfOrderSequence, 0}}},
		{"stale epoch", []step{{1, 3, 0, 1, nil, 0}, {1, 2, 1, 1, ErrInvalidProducerEpoch, 0}}},
		{"new epoch at 0", []step{{1, 0, 0, 5, nil, 0}, {1, 1, 0, 1, nil, 0}, {1, 1, 1, 1, nil, 0}}},
		{"new epoch not at 0", []step{{1, 0, 0, 5, nil, 0}, {1, 1, 5, 1, ErrOutOfOrderSequence, 0}}},
		{"old epoch after bump", []step{{1, 0, 0, 1, nil, 0}, {1, 1, 0, 1, nil, 0}, {1, 0, 1, 1, ErrInvalidProducerEpoch, 0}}},
		{"producers are independent", []step{{1, 0, 0, 1, nil, 0}, {2, 0, 0, 1, nil, 0}, {1, 0, 1, 1, nil, 0}, {2, 0, 2, 1, ErrOutOfOrderSequence, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
			var infos []AppendInfo
			for i, s := range tt.steps {
				end := l.EndOffset()
				info, err := l.Append(idemBatch(t, s.pid, s.epoch, s.seq, s.n), AppendOptions{})
				infos = append(infos, info)
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: err = %v, want %v", i+1, err, s.wantErr)
				}
				if err != nil && l.EndOffset() != end {
					t.Fatalf("step %d: rejected batch was written", i+1)
				}
				if s.dupOf > 0 && (info.BaseOffset != infos[s.dupOf-1].BaseOffset || info.LastOffset != infos[s.dupOf-1].LastOffset) {
					t.Fatalf("step %d: duplicate answered %+v, want %+v", i+1, info, infos[s.dupOf-1])
				}
			}
		})
	}
}

func TestProducerSequenceWraps(t *testing.T) {
	p := producerStates{}
	h := batchHeader{producerID: 7, baseSequence: math.MaxInt32 - 1, baseOffset: 0, lastOffset: 1}
	p.update(&h, -1) // sequences MaxInt32-1 and MaxInt32
	next := batchHeader{producerID: 7, baseSequence: 0, baseOffset: 2, lastOffset: 2}
	if _, err := p.check(&next); err != nil {
		t.Fatalf("sequence after MaxInt32: %v", err)
	}
	bad := batchHeader{producerID: 7, baseSequence: math.MaxInt32, baseOffset: 2, lastOffset: 2}
	if _, err := p.check(&bad); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("stale sequence near the wrap: %v", err)
	}
	if got := addSeq(math.MaxInt32, 3); got != 2 {
		t.Fatalf("addSeq wraps to %d", got)
	}
}

// copyDir copies a live log's files, as a crash would leave them (the
// page cache is visible to reads), without the snapshot Close writes.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestProducerStateAfterReopen(t *testing.T) {
	dir, crashDir := t.TempDir(), t.TempDir()
	cfg := smallConfig()
	l := openLog(t, dir, cfg, Options{Fsync: FsyncOS})
	var last AppendInfo
	// Enough batches to roll (snapshots on roll) and keep going after.
	for i := range 40 {
		last = mustAppend(t, l, idemBatch(t, 9, 2, int32(i*3), 3))
	}
	mustAppend(t, l, idemBatch(t, 10, 0, 0, 1))
	copyDir(t, dir, crashDir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]string{"clean close": dir, "crash": crashDir} {
		t.Run(name, func(t *testing.T) {
			l := openLog(t, d, cfg, Options{Fsync: FsyncOS})
			info, err := l.Append(idemBatch(t, 9, 2, 39*3, 3), AppendOptions{})
			if !errors.Is(err, ErrDuplicateSequence) || info.BaseOffset != last.BaseOffset || info.LastOffset != last.LastOffset {
				t.Fatalf("retry of the last batch: %+v, %v", info, err)
			}
			if _, err := l.Append(idemBatch(t, 9, 1, 0, 1), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("old epoch: %v", err)
			}
			if _, err := l.Append(idemBatch(t, 9, 2, 40*3+1, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap: %v", err)
			}
			mustAppend(t, l, idemBatch(t, 9, 2, 40*3, 1))
			mustAppend(t, l, idemBatch(t, 10, 0, 1, 1))
		})
	}
}

func TestProducerStateSnapshotLostOnTruncation(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	l := openLog(t, dir, cfg, Options{Fsync: FsyncOS})
	mustAppend(t, l, idemBatch(t, 5, 0, 0, 1))
	mustAppend(t, l, idemBatch(t, 5, 0, 1, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Tear the last batch: the snapshot at offset 2 is now beyond the end
	// and must not be used; state comes from replaying offset 0 only.
	seg := activeSegment(t, dir)
	st, _ := os.Stat(seg)
	os.Truncate(seg, st.Size()-10)
	l = openLog(t, dir, cfg, Options{Fsync: FsyncOS})
	if l.EndOffset() != 1 {
		t.Fatalf("end %d", l.EndOffset())
	}
	if info, err := l.Append(idemBatch(t, 5, 0, 1, 1), AppendOptions{}); err != nil || info.BaseOffset != 1 {
		t.Fatalf("resend of the lost batch: %+v %v", info, err)
	}
}

func TestProducerEvictedWithItsData(t *testing.T) {
	l := openLog(t, t.TempDir(), smallConfig(), Options{Fsync: FsyncOS})
	mustAppend(t, l, idemBatch(t, 3, 0, 0, 1))
	for i := range 40 {
		mustAppend(t, l, recordsBatch(t, 1, int64(i), 200))
	}
	if _, err := l.DeleteRecordsBefore(l.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(idemBatch(t, 3, 0, 1, 1), AppendOptions{}); !errors.Is(err, ErrUnknownProducerID) {
		t.Fatalf("producer whose data was deleted: %v", err)
	}
}

// TestProducerExpiration: EnforceRetention forgets producers idle past
// ProducerExpiration, except one with a transaction open, so that producer
// state does not grow with every client that ever wrote.
func TestProducerExpiration(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), smallConfig(), Options{Fsync: FsyncOS, Now: clock.Now, ProducerExpiration: time.Hour})
	nowMs := clock.Now().UnixMilli()
	mustAppend(t, l, makeBatch(t, batchSpec{idempotent: true, pid: 1, timestamps: []int64{nowMs - 2*time.Hour.Milliseconds()}}))
	mustAppend(t, l, makeBatch(t, batchSpec{idempotent: true, pid: 2, timestamps: []int64{nowMs}}))
	mustAppend(t, l, txnBatch(t, 3, 0, 0, 1)) // timestamp 0, but its transaction is open
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range l.Producers() {
		ids = append(ids, p.ProducerID)
	}
	if !slices.Equal(ids, []int64{2, 3}) {
		t.Fatalf("producers after expiration %v, want [2 3]", ids)
	}
	if _, err := l.Append(makeBatch(t, batchSpec{idempotent: true, pid: 1, seq: 1, timestamps: []int64{nowMs}}), AppendOptions{}); !errors.Is(err, ErrUnknownProducerID) {
		t.Fatalf("expired producer going on at sequence 1: %v, want ErrUnknownProducerID", err)
	}
	if _, err := l.Append(makeBatch(t, batchSpec{idempotent: true, pid: 2, seq: 1, timestamps: []int64{nowMs}}), AppendOptions{}); err != nil {
		t.Fatalf("live producer going on: %v", err)
	}
}
