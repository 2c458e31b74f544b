package storage

import (
	"errors"
	"testing"
	"time"
)

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := smallConfig()
	cfg.RetentionAge = time.Hour
	l := openLog(t, dir, cfg, Options{Fsync: FsyncOS, Now: clock.Now})
	// Old records fill a few segments, then new ones follow.
	old := clock.Now().Add(-2 * time.Hour).UnixMilli()
	for i := range 40 {
		mustAppend(t, l, recordsBatch(t, 2, old+int64(i), 100))
	}
	firstNew := l.EndOffset()
	for i := range 40 {
		mustAppend(t, l, recordsBatch(t, 2, clock.Now().UnixMilli()+int64(i), 100))
	}
	before := len(segmentFiles(t, dir))
	n, err := l.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || len(segmentFiles(t, dir)) != before-n {
		t.Fatalf("deleted %d of %d segments", n, before)
	}
	// Only segments whose newest record is old go: the log now starts at
	// or before the first new record, and no new record was lost.
	if lso := l.LogStartOffset(); lso == 0 || lso > firstNew {
		t.Fatalf("log start %d, first new record %d", lso, firstNew)
	}
	if _, err := l.Read(0, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read deleted offset: %v", err)
	}
	readAll(t, l)
	// Nothing more is old enough until the clock moves.
	if n, _ := l.EnforceRetention(); n != 0 {
		t.Fatalf("second pass deleted %d", n)
	}
	clock.Advance(2 * time.Hour)
	if n, _ := l.EnforceRetention(); n == 0 {
		t.Fatal("nothing deleted after everything aged")
	}
	if got := len(segmentFiles(t, dir)); got != 1 {
		t.Fatalf("%d segments left, want only the active one", got)
	}
}

func TestRetentionByBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.RetentionBytes = 10_000
	l := openLog(t, dir, cfg, Options{Fsync: FsyncOS})
	for i := range 100 {
		mustAppend(t, l, recordsBatch(t, 1, int64(i), 200))
	}
	before := l.Size()
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	size := l.Size()
	if size > before || size < cfg.RetentionBytes || size > cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("size %d -> %d with limit %d", before, size, cfg.RetentionBytes)
	}
	if got := len(readAll(t, l)); int64(got) != l.EndOffset()-l.LogStartOffset() {
		t.Fatalf("read %d batches from %d", got, l.LogStartOffset())
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openLog(t, dir, cfg, Options{Fsync: FsyncAlways})
	for i := range 60 {
		mustAppend(t, l, recordsBatch(t, 1, int64(i), 200))
	}
	if got, err := l.DeleteRecordsBefore(10); err != nil || got != 0 {
		t.Fatalf("before fsync (hw 0): got %d, %v", got, err)
	}
	if _, err := l.syncData(); err != nil {
		t.Fatal(err)
	}
	before := len(segmentFiles(t, dir))
	got, err := l.DeleteRecordsBefore(45)
	if err != nil || got != 45 {
		t.Fatalf("got %d, %v", got, err)
	}
	if len(segmentFiles(t, dir)) >= before {
		t.Fatal("no segment deleted")
	}
	if got, _ := l.DeleteRecordsBefore(1000); got != 60 {
		t.Fatalf("clamp to hw: got %d", got)
	}
	if _, err := l.DeleteRecordsBefore(-1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("negative offset: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, Options{Fsync: FsyncAlways})
	if l.LogStartOffset() != 60 || l.EndOffset() != 60 {
		t.Fatalf("after reopen: start %d end %d", l.LogStartOffset(), l.EndOffset())
	}
	if _, err := l.Read(59, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
}
