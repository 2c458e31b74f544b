package storage

import (
	"testing"
)

func TestOffsetForTimestamp(t *testing.T) {
	codecs := []struct {
		name   string
		codec  int16
		xerial bool
	}{
		{"none", 0, false},
		{"gzip", 1, false},
		{"snappy", 2, false},
		{"snappy-xerial", 2, true},
		{"lz4", 3, false},
		{"zstd", 4, false},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), smallConfig(), Options{Fsync: FsyncOS})
			// 30 batches of 5 records; timestamps 1000, 1010, ... with a
			// dip inside each batch, so the match is not always the first
			// record of the batch the index points at.
			for b := range 30 {
				spec := batchSpec{codec: c.codec, xerial: c.xerial, valueLen: 40}
				for r := range 5 {
					ts := int64(1000 + (b*5+r)*10)
					if r == 1 {
						ts -= 15 // below the previous record
					}
					spec.timestamps = append(spec.timestamps, ts)
				}
				mustAppend(t, l, makeBatch(t, spec))
			}
			tests := []struct {
				ts       int64
				wantOff  int64
				wantTs   int64
				notFound bool
			}{
				{ts: 0, wantOff: 0, wantTs: 1000},
				{ts: 1000, wantOff: 0, wantTs: 1000},
				{ts: 1001, wantOff: 2, wantTs: 1020},
				{ts: 1020, wantOff: 2, wantTs: 1020},
				{ts: 1400, wantOff: 40, wantTs: 1400},
				// Offset 51 (1495) dips below 1501; the match is the batch's third record.
				{ts: 1501, wantOff: 52, wantTs: 1520},
				{ts: 2490, wantOff: 149, wantTs: 2490},
				{ts: 2491, notFound: true},
			}
			for _, tt := range tests {
				off, ts, found, err := l.OffsetForTimestamp(tt.ts)
				if err != nil {
					t.Fatalf("ts %d: %v", tt.ts, err)
				}
				if tt.notFound {
					if found {
						t.Fatalf("ts %d: found %d", tt.ts, off)
					}
					continue
				}
				if !found || off != tt.wantOff || ts != tt.wantTs {
					t.Fatalf("ts %d: got %d@%d found=%v, want %d@%d", tt.ts, off, ts, found, tt.wantOff, tt.wantTs)
				}
			}
		})
	}
}

func TestOffsetForTimestampVisibility(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncAlways})
	mustAppend(t, l, recordsBatch(t, 3, 100, 10))
	if _, _, found, _ := l.OffsetForTimestamp(0); found {
		t.Fatal("found a record above the high watermark")
	}
	if _, err := l.syncData(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	off, ts, found, err := l.OffsetForTimestamp(0)
	if err != nil || !found || off != 1 || ts != 101 {
		t.Fatalf("got %d@%d %v %v, want 1@101 (first record at or above the log start)", off, ts, found, err)
	}
}
