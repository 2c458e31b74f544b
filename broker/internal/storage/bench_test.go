package storage

import (
	"context"
	"sync"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	for _, p := range []FsyncPolicy{FsyncOS, FsyncAlways} {
		b.Run(p.String(), func(b *testing.B) {
			l := openLog(b, b.TempDir(), DefaultConfig(), Options{Fsync: p})
			batch := recordsBatch(b, 16, 1, 1024)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var mu sync.Mutex
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					info, err := l.Append(batch, AppendOptions{})
					if err == nil {
						err = l.WaitDurable(context.Background(), info.LastOffset)
					}
					if err != nil {
						mu.Lock()
						b.Error(err)
						mu.Unlock()
						return
					}
				}
			})
		})
	}
}

func BenchmarkReadSequential(b *testing.B) {
	l := openLog(b, b.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
	batch := recordsBatch(b, 16, 1, 100)
	for range 10_000 {
		mustAppend(b, l, batch)
	}
	b.SetBytes(int64(len(batch)) * 10)
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		res, err := l.Read(off, len(batch)*10, true)
		if err != nil {
			b.Fatal(err)
		}
		off = parseHeader(res.Data[len(res.Data)-len(batch):]).lastOffset + 1
		if off >= l.HighWatermark() {
			off = 0
		}
	}
}
