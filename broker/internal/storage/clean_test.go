package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kv is one test record: a key (none when keyless), a value (null when
// tombstone) and a timestamp.
type kv struct {
	key, value string
	keyless    bool
	tombstone  bool
	ts         int64
}

// kvSpec describes a test batch of keyed records.
type kvSpec struct {
	recs   []kv
	codec  int16
	xerial bool
	pid    int64 // 0: no producer
	epoch  int16
	seq    int32
	txn    bool
}

func kvBatch(t testing.TB, spec kvSpec) []byte {
	t.Helper()
	first, maxTs := spec.recs[0].ts, spec.recs[0].ts
	var recs []byte
	for i, x := range spec.recs {
		maxTs = max(maxTs, x.ts)
		r := kmsg.Record{TimestampDelta64: x.ts - first, OffsetDelta: int32(i)}
		if !x.keyless {
			r.Key = []byte(x.key)
		}
		if !x.tombstone {
			r.Value = []byte(x.value)
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the zero length took one byte
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           spec.codec,
		LastOffsetDelta:      int32(len(spec.recs) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(spec.recs)),
		Records:              compress(t, spec.codec, spec.xerial, recs),
	}
	if spec.pid != 0 {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = spec.pid, spec.epoch, spec.seq
	}
	if spec.txn {
		rb.Attributes |= attrTransactional
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthPrefix))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b
}

// seen is one record as a full scan of the log returns it.
type seen struct {
	offset    int64
	key       string
	value     string
	tombstone bool
	control   bool
	codec     int16
}

// scanLog reads every visible batch from the log start and returns its
// records, checking CRCs and that batches and records only move forward.
func scanLog(t testing.TB, l *Log) []seen {
	t.Helper()
	out, err := scanLogErr(l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func scanLogErr(l *Log) ([]seen, error) {
	var out []seen
	off, last := l.LogStartOffset(), int64(-1)
	for off < l.HighWatermark() {
		res, err := l.Read(off, 64<<10, true)
		if err != nil {
			return nil, fmt.Errorf("read %d: %w", off, err)
		}
		bs, err := SplitBatches(res.Data)
		if err != nil {
			return nil, fmt.Errorf("read %d: %w", off, err)
		}
		if len(bs) == 0 {
			return nil, fmt.Errorf("read %d: no batch below high watermark %d", off, l.HighWatermark())
		}
		for _, b := range bs {
			h := parseHeader(b)
			if h.lastOffset < off {
				return nil, fmt.Errorf("read %d: got batch %d-%d", off, h.baseOffset, h.lastOffset)
			}
			d, err := decodeBatch(b)
			if err != nil {
				return nil, fmt.Errorf("batch %d: %w", h.baseOffset, err)
			}
			for _, r := range d.records {
				if r.offset <= last || r.offset < h.baseOffset || r.offset > h.lastOffset {
					return nil, fmt.Errorf("record offset %d after %d in batch %d-%d", r.offset, last, h.baseOffset, h.lastOffset)
				}
				last = r.offset
				var v kmsg.Record
				v.ReadFrom(r.raw)
				out = append(out, seen{
					offset: r.offset, key: string(r.key), value: string(v.Value), tombstone: r.tombstone,
					control: h.attributes&attrControl != 0, codec: h.attributes & attrCodecMask,
				})
			}
			off = h.lastOffset + 1
		}
	}
	return out, nil
}

// latest is the newest record of each key in recs, data records only.
func latest(recs []seen) map[string]seen {
	m := map[string]seen{}
	for _, r := range recs {
		if !r.control {
			m[r.key] = r
		}
	}
	return m
}

func compactConfig() Config {
	c := smallConfig()
	c.RetentionBytes = -1
	c.Compact = true
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetention = time.Hour
	return c
}

func forceRoll(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rollLocked(); err != nil {
		t.Fatal(err)
	}
}

func mustClean(t testing.TB, l *Log, now time.Time) CleanStats {
	t.Helper()
	st, err := l.Clean(context.Background(), now)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return st
}

// writeRounds appends rounds batches, each with one record per key: value
// "r<round>-<key>", timestamps from ts. It returns the offset of every
// record appended by key, in order.
func writeRounds(t testing.TB, l *Log, keys []string, rounds int, codec int16, xerial bool, ts int64) map[string][]int64 {
	t.Helper()
	offs := map[string][]int64{}
	for r := range rounds {
		spec := kvSpec{codec: codec, xerial: xerial}
		for _, k := range keys {
			spec.recs = append(spec.recs, kv{key: k, value: fmt.Sprintf("r%d-%s", r, k), ts: ts + int64(r)})
		}
		info := mustAppend(t, l, kvBatch(t, spec))
		for i, k := range keys {
			offs[k] = append(offs[k], info.BaseOffset+int64(i))
		}
	}
	return offs
}

func TestCleanKeepsLatestPerKey(t *testing.T) {
	for _, tc := range []struct {
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compactConfig()
			cfg.SegmentBytes = 1024
			l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncOS})
			keys := []string{"a", "b", "c", "d", "e"}
			// Each round rewrites every key; a few rounds also add a key of
			// their own, which compaction must keep.
			offs := writeRounds(t, l, keys, 30, tc.codec, tc.xerial, 1000)
			only := mustAppend(t, l, kvBatch(t, kvSpec{codec: tc.codec, xerial: tc.xerial, recs: []kv{{key: "only", value: "x", ts: 2000}, {key: "a", value: "last-a", ts: 2000}}}))
			forceRoll(t, l)
			tail := mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "a", value: "active", ts: 3000}}}))
			before := scanLog(t, l)
			want := latest(before)
			st := mustClean(t, l, time.UnixMilli(5000))
			if st.Segments < 2 || st.Rewritten == 0 || st.RecordsRemoved == 0 {
				t.Fatalf("stats %+v: expected a pass that removed records", st)
			}
			after := scanLog(t, l)
			if got := latest(after); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("latest values changed:\n got %v\nwant %v", got, want)
			}
			// The closed segments hold each key once, at its newest offset
			// there; the active segment is untouched.
			count := map[string]int{}
			for _, r := range after {
				if r.offset < tail.BaseOffset {
					count[r.key]++
				}
				if r.codec != tc.codec && r.offset < tail.BaseOffset {
					t.Fatalf("record %d has codec %d, want %d", r.offset, r.codec, tc.codec)
				}
			}
			for _, k := range append(keys, "only") {
				if count[k] != 1 {
					t.Fatalf("key %q appears %d times in the cleaned segments", k, count[k])
				}
			}
			wantOff := map[string]int64{"a": only.BaseOffset + 1, "only": only.BaseOffset}
			for _, k := range keys[1:] {
				wantOff[k] = offs[k][len(offs[k])-1]
			}
			for _, r := range after {
				if r.offset < tail.BaseOffset && r.offset != wantOff[r.key] {
					t.Fatalf("key %q kept at offset %d, want %d", r.key, r.offset, wantOff[r.key])
				}
			}
			if last := after[len(after)-1]; last.offset != tail.BaseOffset || last.value != "active" {
				t.Fatalf("active segment changed: last record %+v", last)
			}
			if l.EndOffset() != tail.BaseOffset+1 {
				t.Fatalf("end offset %d", l.EndOffset())
			}
			// A second pass with nothing dirty does nothing.
			if st := mustClean(t, l, time.UnixMilli(5000)); st.Segments != 0 {
				t.Fatalf("second pass ran: %+v", st)
			}
			// Reading from inside a removed range lands on the next batch.
			res, err := l.Read(offs["b"][0], 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			if bs, _ := SplitBatches(res.Data); len(bs) == 0 || parseHeader(bs[0]).lastOffset < offs["b"][0] {
				t.Fatalf("read inside a cleaned gap returned %d batches", len(bs))
			}
		})
	}
}

func TestCleanSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
	writeRounds(t, l, []string{"a", "b"}, 200, 0, false, 0)
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))
	want := fmt.Sprint(latest(scanLog(t, l)))
	segFiles := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+extLog))
		return len(m)
	}
	before := segFiles()
	mustClean(t, l, time.UnixMilli(1000))
	cleaned := scanLog(t, l)
	// Segments left empty are deleted, all but the first: two remain
	// besides the active one when the last holds a record of each key.
	if after := segFiles(); after >= before || after > 3 {
		t.Fatalf("%d segment files before cleaning, %d after", before, after)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
	after := scanLog(t, l)
	if fmt.Sprint(after) != fmt.Sprint(cleaned) || fmt.Sprint(latest(after)) != want {
		t.Fatalf("reopened log differs from the cleaned one")
	}
	if st := mustClean(t, l, time.UnixMilli(1000)); st.Segments != 0 {
		t.Fatalf("checkpoint lost: pass after reopen %+v", st)
	}
	// The rebuilt offset index serves reads in the cleaned segments.
	for _, r := range after {
		res, err := l.Read(r.offset, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		bs, _ := SplitBatches(res.Data)
		if len(bs) != 1 || parseHeader(bs[0]).baseOffset > r.offset || parseHeader(bs[0]).lastOffset < r.offset {
			t.Fatalf("read %d: wrong batch", r.offset)
		}
	}
}

func TestCleanTombstones(t *testing.T) {
	cfg := compactConfig()
	cfg.DeleteRetention = 10 * time.Second
	l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncOS})
	writeRounds(t, l, []string{"a", "b", "c"}, 20, 0, false, 0)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "b", tombstone: true}}}))
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))

	t0 := time.UnixMilli(100_000)
	mustClean(t, l, t0)
	keys := func() map[string]seen { return latest(scanLog(t, l)) }
	got := keys()
	if r, ok := got["b"]; !ok || !r.tombstone {
		t.Fatalf("tombstone of b gone on its first pass: %v", got)
	}
	for _, r := range scanLog(t, l) {
		if r.key == "b" && !r.tombstone {
			t.Fatalf("old value of tombstoned b kept: %+v", r)
		}
	}
	// Before delete retention passes nothing is due.
	if st := mustClean(t, l, t0.Add(9*time.Second)); st.Segments != 0 {
		t.Fatalf("pass before retention: %+v", st)
	}
	if _, ok := keys()["b"]; !ok {
		t.Fatal("tombstone removed before its retention")
	}
	// Once it passes a pass runs although nothing is dirty.
	st := mustClean(t, l, t0.Add(10*time.Second))
	if st.RecordsRemoved != 1 {
		t.Fatalf("pass after retention: %+v", st)
	}
	got = keys()
	if _, ok := got["b"]; ok {
		t.Fatalf("tombstone kept after its retention: %v", got)
	}
	if got["a"].value != "r19-a" || got["c"].value != "r19-c" {
		t.Fatalf("other keys changed: %v", got)
	}
	if st := mustClean(t, l, t0.Add(time.Hour)); st.Segments != 0 {
		t.Fatalf("pass with nothing to do: %+v", st)
	}
}

func TestCleanKeepsKeylessRecords(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), Options{Fsync: FsyncOS})
	for i := range 3 {
		mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{keyless: true, value: fmt.Sprint("n", i)}, {key: "k", value: fmt.Sprint(i)}}}))
	}
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))
	mustClean(t, l, time.UnixMilli(0))
	var keyless, k int
	for _, r := range scanLog(t, l) {
		switch r.key {
		case "":
			keyless++
		case "k":
			k++
		}
	}
	if keyless != 3 || k != 1 {
		t.Fatalf("keyless %d (want 3), k %d (want 1)", keyless, k)
	}
}

func TestCleanDirtyRatioAndLags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tune    func(*Config)
		wantRun bool
	}{
		{"ratio met", func(c *Config) { c.MinCleanableDirtyRatio = 0.3 }, true},
		{"ratio not met", func(c *Config) { c.MinCleanableDirtyRatio = 0.5 }, false},
		{"max lag overrides ratio", func(c *Config) { c.MinCleanableDirtyRatio = 0.5; c.MaxCompactionLag = time.Minute }, true},
		{"max lag not reached", func(c *Config) { c.MinCleanableDirtyRatio = 0.5; c.MaxCompactionLag = time.Hour }, false},
		{"min lag holds back", func(c *Config) { c.MinCompactionLag = time.Hour }, false},
		{"min lag passed", func(c *Config) { c.MinCompactionLag = time.Minute }, true},
		{"compaction off", func(c *Config) { c.Compact = false }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compactConfig()
			l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncOS})
			// A clean part of 60 batches of distinct keys, which a pass
			// keeps whole, then a dirty part of 40 batches: a dirty ratio
			// of 0.4. Timestamps stay below 200 ms.
			for r := range 60 {
				spec := kvSpec{}
				for k := range 4 {
					spec.recs = append(spec.recs, kv{key: fmt.Sprintf("u%d-%d", r, k), value: "v", ts: int64(r)})
				}
				mustAppend(t, l, kvBatch(t, spec))
			}
			forceRoll(t, l)
			if st := mustClean(t, l, time.UnixMilli(0)); st.Segments == 0 || st.Rewritten != 0 {
				t.Fatalf("first pass %+v", st)
			}
			writeRounds(t, l, []string{"a", "b", "c", "d"}, 40, 0, false, 100)
			forceRoll(t, l)
			mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z", ts: 200}}}))
			tc.tune(&cfg)
			l.SetConfig(cfg)
			st := mustClean(t, l, time.UnixMilli(1_000_000))
			if ran := st.Segments > 0; ran != tc.wantRun {
				t.Fatalf("pass ran %v, want %v (stats %+v)", ran, tc.wantRun, st)
			}
			if tc.wantRun && (st.DirtyRatio < 0.35 || st.DirtyRatio > 0.45) {
				t.Fatalf("dirty ratio %v, want about 0.4", st.DirtyRatio)
			}
		})
	}
}

func TestCleanMinLagStopsAtYoungSegment(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCompactionLag = time.Minute
	l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncOS})
	old := writeRounds(t, l, []string{"a"}, 10, 0, false, 0)
	forceRoll(t, l)
	young := writeRounds(t, l, []string{"a"}, 10, 0, false, 60_000)
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z", ts: 60_000}}}))
	mustClean(t, l, time.UnixMilli(61_000))
	var a []int64
	for _, r := range scanLog(t, l) {
		if r.key == "a" {
			a = append(a, r.offset)
		}
	}
	// The old segment is compacted against itself only; the young one is
	// left whole.
	want := append([]int64{old["a"][9]}, young["a"]...)
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Fatalf("offsets of a %v, want %v", a, want)
	}
}

func TestCleanKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
	first := mustAppend(t, l, kvBatch(t, kvSpec{pid: 5, recs: []kv{{key: "x", value: "1"}, {key: "y", value: "1"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{pid: 6, recs: []kv{{key: "w", value: "1"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{pid: 6, seq: 1, recs: []kv{{key: "w", value: "2"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "x", value: "2"}, {key: "y", value: "2"}}}))
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))
	mustClean(t, l, time.UnixMilli(0))
	// Producer 5's only batch lost its records but keeps its header;
	// producer 6's older batch goes entirely.
	var pids []int64
	for off := int64(0); off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		bs, _ := SplitBatches(res.Data)
		for _, b := range bs {
			h := parseHeader(b)
			pids = append(pids, h.producerID)
			if h.producerID == 5 && (h.baseOffset != first.BaseOffset || h.lastOffset != first.LastOffset || binary.BigEndian.Uint32(b[offNumRecords:]) != 0) {
				t.Fatalf("kept header of producer 5: %+v", h)
			}
			off = h.lastOffset + 1
		}
	}
	if fmt.Sprint(pids) != "[5 6 -1 -1]" {
		t.Fatalf("producers of the batches left: %v", pids)
	}
	// Producer state survives a reopen that replays from the log.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*"+extSnapshot))
	for _, m := range matches {
		os.Remove(m)
	}
	l = openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
	if _, err := l.Append(kvBatch(t, kvSpec{pid: 5, seq: 0, recs: []kv{{key: "x", value: "1"}, {key: "y", value: "1"}}}), AppendOptions{}); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("retry of producer 5's cleaned batch: %v, want a duplicate", err)
	}
	mustAppend(t, l, kvBatch(t, kvSpec{pid: 5, seq: 2, recs: []kv{{key: "x", value: "3"}}}))
}

func TestCleanTransactions(t *testing.T) {
	cfg := compactConfig()
	cfg.DeleteRetention = 10 * time.Second
	l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncOS})
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "a", value: "base"}, {key: "c", value: "base"}}}))
	// Producer 7 aborts a change of a; producer 8 commits one of c.
	mustAppend(t, l, kvBatch(t, kvSpec{pid: 7, txn: true, recs: []kv{{key: "a", value: "aborted"}, {key: "b", value: "aborted"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{pid: 8, txn: true, recs: []kv{{key: "c", value: "committed"}}}))
	if _, err := l.AppendMarker(7, 0, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendMarker(8, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	// A later plain write supersedes the committed c, so that transaction
	// ends up with no data; its COMMIT marker can go once producer 8 has a
	// newer batch (the header of its newest batch stays for its state).
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "c", value: "plain"}}}))
	// Producer 8 commits a value that stays, so that marker stays too.
	mustAppend(t, l, kvBatch(t, kvSpec{pid: 8, seq: 1, txn: true, recs: []kv{{key: "d", value: "committed"}}}))
	if _, err := l.AppendMarker(8, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))

	t0 := time.UnixMilli(100_000)
	mustClean(t, l, t0)
	got := latest(scanLog(t, l))
	if got["a"].value != "base" || got["c"].value != "plain" || got["d"].value != "committed" {
		t.Fatalf("values after clean: %v", got)
	}
	if _, ok := got["b"]; ok {
		t.Fatal("aborted record of b kept")
	}
	markers := func() (n int) {
		for _, r := range scanLog(t, l) {
			if r.control {
				n++
			}
		}
		return n
	}
	if n := markers(); n != 3 {
		t.Fatalf("%d markers before delete retention, want 3", n)
	}
	mustClean(t, l, t0.Add(10*time.Second))
	// Producer 8's first COMMIT goes; 7's ABORT and 8's second COMMIT stay.
	if n := markers(); n != 2 {
		t.Fatalf("%d markers after delete retention, want 2", n)
	}
	res, err := l.ReadCommitted(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Aborted) != 1 || res.Aborted[0].ProducerID != 7 {
		t.Fatalf("aborted transactions after clean: %+v", res.Aborted)
	}
}

// TestCleanCrash stops a pass at each step, as a crash would, and checks
// that the reopened log is whole and a later pass finishes the job.
func TestCleanCrash(t *testing.T) {
	errCrash := errors.New("crash")
	for _, step := range []string{"cleaned", "indexes-removed", "renamed", "swapped"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
			writeRounds(t, l, []string{"a", "b", "c"}, 100, 1, false, 0)
			forceRoll(t, l)
			mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))
			want := fmt.Sprint(latest(scanLog(t, l)))
			l.cleanHook = func(s string) error {
				if s != step {
					return nil
				}
				// A crash would not clean up: keep a link to whatever
				// temporary file the pass has, for Open to find.
				tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
				for _, p := range tmps {
					if err := os.Link(p, p+".crash.tmp"); err != nil {
						t.Fatal(err)
					}
				}
				if step == "cleaned" && len(tmps) == 0 {
					t.Fatal("no temporary file at step cleaned")
				}
				return errCrash
			}
			if _, err := l.Clean(context.Background(), time.UnixMilli(0)); !errors.Is(err, errCrash) {
				t.Fatalf("Clean: %v, want the crash", err)
			}
			l.Close()
			l = openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
			if got := fmt.Sprint(latest(scanLog(t, l))); got != want {
				t.Fatalf("after crash at %s:\n got %s\nwant %s", step, got, want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Fatalf("%s left behind", e.Name())
				}
			}
			mustClean(t, l, time.UnixMilli(0))
			recs := scanLog(t, l)
			if fmt.Sprint(latest(recs)) != want || len(recs) != 4 {
				t.Fatalf("after the next pass: %d records, %v", len(recs), latest(recs))
			}
		})
	}
}

// TestCleanConcurrentReaders cleans while a producer appends and readers
// scan the whole log: every scan must be well formed and end with each
// key's newest value as of the scan's start.
func TestCleanConcurrentReaders(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 2048
	l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncOS})
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var newest [8]atomic.Int64 // per key, the newest round appended
	for i := range newest {
		newest[i].Store(-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	var rewritten, scans atomic.Int64
	const rounds = 150
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		for r := range rounds {
			spec := kvSpec{codec: int16(r % 5)}
			for _, k := range keys {
				spec.recs = append(spec.recs, kv{key: k, value: fmt.Sprintf("%06d", r)})
			}
			if _, err := l.Append(kvBatch(t, spec), AppendOptions{}); err != nil {
				errc <- err
				return
			}
			for i := range newest {
				newest[i].Store(int64(r))
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			st, err := l.Clean(ctx, time.Now())
			if err != nil && ctx.Err() == nil {
				errc <- err
				return
			}
			rewritten.Add(int64(st.Rewritten))
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var floor [8]int64
				for i := range floor {
					floor[i] = newest[i].Load()
				}
				recs, err := scanLogErr(l)
				if err != nil {
					errc <- err
					return
				}
				scans.Add(1)
				last := map[string]string{}
				for _, r := range recs {
					if prev, ok := last[r.key]; ok && r.value <= prev {
						errc <- fmt.Errorf("key %s: value %s after %s", r.key, r.value, prev)
						return
					}
					last[r.key] = r.value
				}
				for i, k := range keys {
					if floor[i] >= 0 && last[k] < fmt.Sprintf("%06d", floor[i]) {
						errc <- fmt.Errorf("key %s: scan ends at %q, round %d was already written", k, last[k], floor[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if rewritten.Load() == 0 || scans.Load() < 10 {
		t.Fatalf("%d segments rewritten during %d scans: not concurrent enough", rewritten.Load(), scans.Load())
	}
	t.Logf("%d segments rewritten during %d scans", rewritten.Load(), scans.Load())
	st := mustClean(t, l, time.Now())
	recs := scanLog(t, l)
	if len(recs) > 8*rounds/4 {
		t.Fatalf("%d records left of %d after cleaning (last pass %+v)", len(recs), 8*rounds, st)
	}
}

// BenchmarkClean measures a pass over 2000 uncompressed batches of 50
// records (100-byte values, 5000 keys): about 12 MB, read twice.
// TestCleanRacesDeletion deletes the segment being cleaned before its swap:
// the pass drops its copy and the log stays as retention left it.
func TestCleanRacesDeletion(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig(), Options{Fsync: FsyncOS})
	writeRounds(t, l, []string{"a", "b"}, 100, 0, false, 0)
	forceRoll(t, l)
	tail := mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{key: "z", value: "z"}}}))
	l.cleanHook = func(step string) error {
		if step == "cleaned" {
			if _, err := l.DeleteRecordsBefore(tail.BaseOffset); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	if st := mustClean(t, l, time.UnixMilli(0)); st.Segments == 0 || st.Rewritten != 0 {
		t.Fatalf("stats %+v, want segments cleaned but none swapped", st)
	}
	recs := scanLog(t, l)
	if len(recs) != 1 || recs[0].key != "z" {
		t.Fatalf("log after the race: %+v", recs)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("%s left behind", e.Name())
		}
	}
}
