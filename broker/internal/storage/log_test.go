package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendReadAcrossRolls(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig(), Options{Fsync: FsyncOS})
	var sent [][]byte
	for i := range 120 {
		b := recordsBatch(t, 1+i%4, int64(1000+i*10), 20+i%50)
		info := mustAppend(t, l, b)
		if info.BaseOffset != l.EndOffset()-int64(1+i%4) || info.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v, end %d", i, info, l.EndOffset())
		}
		sent = append(sent, b)
	}
	if n := len(segmentFiles(t, dir)); n < 3 {
		t.Fatalf("%d segments, want rolls", n)
	}
	if l.HighWatermark() != l.EndOffset() {
		t.Fatalf("hw %d != end %d under FsyncOS", l.HighWatermark(), l.EndOffset())
	}
	check := func(l *Log) {
		t.Helper()
		hs := readAll(t, l)
		if len(hs) != len(sent) {
			t.Fatalf("read %d batches, sent %d", len(hs), len(sent))
		}
		// Every offset finds the batch containing it, in any segment.
		for off := int64(0); off < l.EndOffset(); off++ {
			res, err := l.Read(off, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			h := parseHeader(res.Data)
			if h.baseOffset > off || h.lastOffset < off {
				t.Fatalf("offset %d: batch %d-%d", off, h.baseOffset, h.lastOffset)
			}
			got := bytes.Clone(res.Data)
			copy(got[:8], make([]byte, 8))
			if !bytes.Equal(got, sent[indexOf(hs, h.baseOffset)]) {
				t.Fatalf("offset %d: stored bytes differ from the sent batch", off)
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openLog(t, dir, smallConfig(), Options{Fsync: FsyncOS}))
}

func indexOf(hs []batchHeader, base int64) int {
	for i, h := range hs {
		if h.baseOffset == base {
			return i
		}
	}
	return -1
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	b0 := recordsBatch(t, 3, 1, 100) // offsets 0-2
	b1 := recordsBatch(t, 2, 2, 100) // 3-4
	b2 := recordsBatch(t, 1, 3, 100) // 5
	for _, b := range [][]byte{b0, b1, b2} {
		mustAppend(t, l, b)
	}
	if _, err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		offset   int64
		maxBytes int
		minOne   bool
		wantErr  error
		want     []int64 // base offsets of returned batches
	}{
		{"below start", 0, 1 << 20, true, ErrOffsetOutOfRange, nil},
		{"above hw", 7, 1 << 20, true, ErrOffsetOutOfRange, nil},
		{"at hw", 6, 1 << 20, true, nil, nil},
		{"mid batch", 2, 1 << 20, true, nil, []int64{0, 3, 5}},
		{"max bytes cuts at a batch", 3, len(b1) + len(b2) - 1, false, nil, []int64{3}},
		{"exact fit", 3, len(b1) + len(b2), false, nil, []int64{3, 5}},
		{"too small without minOne", 3, len(b1) - 1, false, nil, nil},
		{"too small with minOne", 3, 10, true, nil, []int64{3}},
		{"zero bytes with minOne", 5, 0, true, nil, []int64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := l.Read(tt.offset, tt.maxBytes, tt.minOne)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if res.HighWatermark != 6 || res.LogStartOffset != 1 {
				t.Fatalf("hw %d lso %d", res.HighWatermark, res.LogStartOffset)
			}
			bs, err := SplitBatches(res.Data)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, b := range bs {
				got = append(got, parseHeader(b).baseOffset)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !equalInts(got, tt.want)) {
				t.Fatalf("batches %v, want %v", got, tt.want)
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendRejectsBadFraming(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	good := recordsBatch(t, 2, 1, 10)
	countMismatch := bytes.Clone(good)
	countMismatch[offNumRecords+3] = 5
	for name, b := range map[string][]byte{
		"short":          good[:30],
		"length":         good[:len(good)-1],
		"record count":   countMismatch,
		"negative delta": append(bytes.Clone(good[:offLastOffsetDelta]), append([]byte{0xff, 0xff, 0xff, 0xff}, good[offLastOffsetDelta+4:]...)...),
	} {
		if _, err := l.Append(b, AppendOptions{}); !errors.Is(err, ErrCorruptBatch) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if l.EndOffset() != 0 {
		t.Fatalf("end %d after rejected appends", l.EndOffset())
	}
}

func TestLogAppendTime(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	b := recordsBatch(t, 2, 5, 10)
	orig := bytes.Clone(b)
	info, err := l.Append(b, AppendOptions{LogAppendTime: 99_000})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, orig) {
		t.Fatal("Append modified the caller's batch")
	}
	if info.LogAppendTime != 99_000 {
		t.Fatalf("info %+v", info)
	}
	res, err := l.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBatch(res.Data); err != nil {
		t.Fatalf("stamped batch: %v", err)
	}
	h := parseHeader(res.Data)
	if h.attributes&attrLogAppendTime == 0 || h.maxTimestamp != 99_000 {
		t.Fatalf("header %+v", h)
	}
	off, ts, found, err := l.OffsetForTimestamp(50_000)
	if err != nil || !found || off != 0 || ts != 99_000 {
		t.Fatalf("OffsetForTimestamp = %d %d %v %v", off, ts, found, err)
	}
}

func TestSegmentAgeRoll(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := DefaultConfig()
	cfg.SegmentAge = time.Hour
	l := openLog(t, dir, cfg, Options{Fsync: FsyncOS, Now: clock.Now})
	mustAppend(t, l, recordsBatch(t, 1, clock.Now().UnixMilli(), 10))
	clock.Advance(30 * time.Minute)
	mustAppend(t, l, recordsBatch(t, 1, clock.Now().UnixMilli(), 10))
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments before the age", n)
	}
	clock.Advance(31 * time.Minute)
	mustAppend(t, l, recordsBatch(t, 1, clock.Now().UnixMilli(), 10))
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Fatalf("%d segments after the age", n)
	}
	// EnforceRetention rolls an idle over-age segment too.
	clock.Advance(2 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Fatalf("%d segments after EnforceRetention", n)
	}
	if len(readAll(t, l)) != 3 {
		t.Fatal("records lost across age rolls")
	}
}

func TestClosed(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig(), Options{Fsync: FsyncAlways})
	mustAppend(t, l, recordsBatch(t, 1, 1, 10))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != 1 {
		t.Fatalf("Close did not make the tail durable: hw %d", l.HighWatermark())
	}
	checks := map[string]error{}
	_, checks["Append"] = l.Append(recordsBatch(t, 1, 1, 10), AppendOptions{})
	_, checks["Read"] = l.Read(0, 100, true)
	_, _, _, checks["OffsetForTimestamp"] = l.OffsetForTimestamp(0)
	_, checks["DeleteRecordsBefore"] = l.DeleteRecordsBefore(1)
	_, checks["EnforceRetention"] = l.EnforceRetention()
	checks["Close"] = l.Close()
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if err := l.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir still there: %v", err)
	}
}

func TestParseFsyncPolicy(t *testing.T) {
	for _, p := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncOS} {
		got, err := ParseFsyncPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("%v: %v %v", p, got, err)
		}
	}
	if _, err := ParseFsyncPolicy("sometimes"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("err = %v", err)
	}
}
