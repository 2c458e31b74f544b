package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compactionLog writes about 12 MB of 100-byte values over 5,000 keys (each key written
// 20 times) in 1 MiB segments and closes the active one, so all of it is cleanable.
func compactionLog(b *testing.B) (*Log, int64) {
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 20
	l, err := Open(b.TempDir(), cfg, Options{Fsync: FsyncOS})
	if err != nil {
		b.Fatal(err)
	}
	for r := range 2000 {
		spec := kvSpec{}
		for k := range 50 {
			spec.recs = append(spec.recs, kv{key: fmt.Sprintf("key-%d", (r*50+k)%5000), value: strings.Repeat("v", 100)})
		}
		if _, err := l.Append(kvBatch(b, spec), AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	forceRoll(b, l)
	return l, l.Size()
}

// BenchmarkCompaction reports how fast one cleaner pass goes through a dirty log, in MB
// of log per second.
func BenchmarkCompaction(b *testing.B) {
	var size int64
	var dur time.Duration
	for b.Loop() {
		b.StopTimer()
		l, n := compactionLog(b)
		b.StartTimer()
		st, err := l.Clean(context.Background(), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if st.RecordsRemoved == 0 {
			b.Fatal("the pass removed nothing")
		}
		size += n
		dur += st.Duration
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/dur.Seconds()/1e6, "MB/s")
}

// BenchmarkCompactionCopyBaseline copies the same segments to new files and fsyncs
// them: the disk work a cleaner that removed nothing could not avoid, which is what
// BenchmarkCompaction is compared with.
func BenchmarkCompactionCopyBaseline(b *testing.B) {
	var size int64
	var dur time.Duration
	for b.Loop() {
		b.StopTimer()
		l, n := compactionLog(b)
		l.Close()
		paths, err := filepath.Glob(filepath.Join(l.dir, "*"+extLog))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			f, err := os.Create(p + ".copy")
			if err == nil {
				_, err = f.Write(data)
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		dur += time.Since(start)
		size += n
	}
	b.ReportMetric(float64(size)/dur.Seconds()/1e6, "MB/s")
}
