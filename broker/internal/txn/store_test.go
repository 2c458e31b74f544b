package txn

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	return append(dst, payload...)
}

func TestRecordRoundTrip(t *testing.T) {
	m := &meta{
		producerID: 1 << 40, epoch: 32765, lastProducerID: -1, lastEpoch: -1,
		timeout: 90 * time.Second, state: statePrepareCommit,
		start: time.UnixMilli(1_700_000_000_123), updated: time.UnixMilli(1_700_000_001_456),
		groups: map[string]struct{}{"g1": {}, "g2": {}},
	}
	m.addPartition(tp("a", 0))
	m.addPartition(tp("a", 7))
	m.addPartition(tp("b", 2147483647))
	for _, r := range []record{{id: "x", m: m}, {id: "gone"}} {
		got, err := decodeRecord(r.encode(nil))
		if err != nil {
			t.Fatalf("%s: %v", r.id, err)
		}
		if got.id != r.id || (got.m == nil) != (r.m == nil) {
			t.Fatalf("%s: got %+v", r.id, got)
		}
		if r.m == nil {
			continue
		}
		g := got.m
		if g.producerID != m.producerID || g.epoch != m.epoch || g.lastProducerID != -1 || g.lastEpoch != -1 ||
			g.timeout != m.timeout || g.state != m.state || !g.start.Equal(m.start) || !g.updated.Equal(m.updated) ||
			len(g.partitionList()) != 3 || g.partitionList()[2] != tp("b", 2147483647) || len(g.groupList()) != 2 {
			t.Fatalf("decoded %+v, want %+v", g, m)
		}
	}
	// Zero times stay zero; truncated and padded payloads are refused.
	z := &meta{state: stateEmpty}
	enc := (&record{id: "z", m: z}).encode(nil)
	if got, err := decodeRecord(enc); err != nil || !got.m.start.IsZero() || !got.m.updated.IsZero() {
		t.Fatalf("zero times: %+v %v", got, err)
	}
	for i := range len(enc) {
		if _, err := decodeRecord(enc[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
	if _, err := decodeRecord(append(enc, 0)); err == nil {
		t.Fatal("trailing byte decoded")
	}
	if _, err := decodeRecord([]byte{recState, 1, 'x', 0, 0, 0, 0, 0, 99, 1, 1, 0, 0}); err == nil {
		t.Fatal("unknown state decoded")
	}
}

// The log is rewritten once it is much larger than the live states, and stays bounded
// under a long run of transactions on a few IDs.
func TestLogCompaction(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.minCompact = 4 << 10 })
	path := filepath.Join(e.opts.Dir, logFile)
	type prod struct {
		pid   int64
		epoch int16
	}
	ids := []string{"a", "b", "c"}
	prods := map[string]prod{}
	for _, id := range ids {
		pid, epoch := e.init(id)
		prods[id] = prod{pid, epoch}
	}
	maxSize := int64(0)
	for i := range 300 {
		for _, id := range ids {
			p := prods[id]
			e.mustAdd(id, p.pid, p.epoch, tp("t", int32(i%10)), tp("u", 1))
			if code := e.end(3, id, p.pid, p.epoch, i%3 != 0); code != 0 {
				t.Fatal(code)
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		maxSize = max(maxSize, fi.Size())
	}
	if maxSize > 16<<10 {
		t.Fatalf("log grew to %d bytes", maxSize)
	}
	e.markers.take()
	e.reopen()
	for _, id := range ids {
		if st := e.describe(id); st.State != "CompleteCommit" || st.ProducerID != prods[id].pid {
			t.Fatalf("%s after compaction and restart: %+v", id, st)
		}
	}
	if calls := e.markers.take(); len(calls) != 0 {
		t.Fatalf("restart wrote %+v", calls)
	}
}

// A large log of dead history is compacted when opened.
func TestCompactionAtOpen(t *testing.T) {
	dir := t.TempDir()
	m := &meta{producerID: 1, lastProducerID: -1, lastEpoch: -1, state: stateEmpty, timeout: time.Second}
	buf := []byte(logMagic)
	for i := range 80_000 {
		m.epoch = int16(i % 30000)
		buf = appendFrame(buf, (&record{id: "x", m: m}).encode(nil))
	}
	path := filepath.Join(dir, logFile)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Dir = dir })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1024 {
		t.Fatalf("log of %d bytes not compacted at open (%d bytes now)", len(buf), fi.Size())
	}
	if st := e.describe("x"); st.ProducerEpoch != int16(79_999%30000) {
		t.Fatalf("after compaction: %+v", st)
	}
}
