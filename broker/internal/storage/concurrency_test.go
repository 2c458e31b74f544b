package storage

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentUse runs appenders, readers, timestamp lookups and
// retention together; run it under -race.
func TestConcurrentUse(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 20_000
	l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncAlways})
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				info, err := l.Append(recordsBatch(t, 2, int64(w*1000+i), 150), AppendOptions{})
				if err == nil {
					err = l.WaitDurable(context.Background(), info.LastOffset)
				}
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for off := int64(0); !done.Load(); {
				res, err := l.Read(off, 2000, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					off = l.LogStartOffset()
					continue
				}
				if err != nil {
					fail(err)
					return
				}
				bs, err := SplitBatches(res.Data)
				if err != nil {
					fail(err)
					return
				}
				for _, b := range bs {
					off = parseHeader(b).lastOffset + 1
				}
				if _, _, _, err := l.OffsetForTimestamp(int64(off % 3000)); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for !done.Load() {
			if _, err := l.EnforceRetention(); err != nil {
				fail(err)
				return
			}
		}
	}()
	wg.Wait()
	done.Store(true)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != 800 || l.Size() > 20_000+cfg.SegmentBytes {
		t.Fatalf("hw %d size %d", l.HighWatermark(), l.Size())
	}
}
