package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchSpec describes a test batch; the zero value is one uncompressed,
// non-idempotent record with timestamp 0.
type batchSpec struct {
	timestamps []int64 // one record per timestamp
	valueLen   int
	codec      int16
	xerial     bool // frame snappy the way the Java client does
	idempotent bool
	pid        int64
	epoch      int16
	seq        int32
}

// makeBatch builds a client-style batch (base offset 0) with kmsg types and
// compresses its records with the codec libraries.
func makeBatch(t testing.TB, spec batchSpec) []byte {
	t.Helper()
	ts := spec.timestamps
	if len(ts) == 0 {
		ts = []int64{0}
	}
	first, maxTs := ts[0], ts[0]
	for _, x := range ts {
		maxTs = max(maxTs, x)
	}
	var recs []byte
	for i, x := range ts {
		r := kmsg.Record{
			TimestampDelta64: x - first,
			OffsetDelta:      int32(i),
			Key:              fmt.Appendf(nil, "k%d", i),
			Value:            bytes.Repeat([]byte{byte('a' + i%26)}, spec.valueLen),
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the zero length took one byte
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           spec.codec,
		LastOffsetDelta:      int32(len(ts) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(ts)),
		Records:              compress(t, spec.codec, spec.xerial, recs),
	}
	if spec.idempotent {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = spec.pid, spec.epoch, spec.seq
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthPrefix))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b
}

func compress(t testing.TB, codec int16, xerial bool, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case 0:
		return src
	case 1:
		w := gzip.NewWriter(&buf)
		w.Write(src)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case 2:
		if !xerial {
			return s2.EncodeSnappy(nil, src)
		}
		buf.Write(xerialMagic)
		buf.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		for len(src) > 0 {
			n := min(len(src), 100) // small blocks, to exercise several
			block := s2.EncodeSnappy(nil, src[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			buf.Write(block)
			src = src[n:]
		}
	case 3:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case 4:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil)
	default:
		t.Fatalf("codec %d", codec)
	}
	return buf.Bytes()
}

// recordsBatch is n uncompressed records with timestamps ts, ts+1, ...
func recordsBatch(t testing.TB, n int, ts int64, valueLen int) []byte {
	spec := batchSpec{valueLen: valueLen}
	for i := range n {
		spec.timestamps = append(spec.timestamps, ts+int64(i))
	}
	return makeBatch(t, spec)
}

func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	spec := batchSpec{idempotent: true, pid: pid, epoch: epoch, seq: seq, timestamps: make([]int64, n)}
	return makeBatch(t, spec)
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.RetentionAge = -1
	return c
}

func openLog(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendInfo {
	t.Helper()
	info, err := l.Append(b, AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// readAll reads every visible batch from the log start and returns their
// headers, checking each batch's CRC and offset continuity.
func readAll(t testing.TB, l *Log) []batchHeader {
	t.Helper()
	var hs []batchHeader
	off := l.LogStartOffset()
	for off < l.HighWatermark() {
		res, err := l.Read(off, 1000, true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		bs, err := SplitBatches(res.Data)
		if err != nil || len(bs) == 0 {
			t.Fatalf("read %d: %d batches, %v", off, len(bs), err)
		}
		for _, b := range bs {
			h := parseHeader(b)
			if h.baseOffset > off || h.lastOffset < off {
				t.Fatalf("read %d: got batch %d-%d", off, h.baseOffset, h.lastOffset)
			}
			hs = append(hs, h)
			off = h.lastOffset + 1
		}
	}
	return hs
}
