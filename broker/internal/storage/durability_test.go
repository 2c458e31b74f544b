package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestHighWatermarkFsyncAlways(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncAlways})
	info := mustAppend(t, l, recordsBatch(t, 3, 1, 10))
	if l.EndOffset() != 3 || l.HighWatermark() != 0 {
		t.Fatalf("before fsync: end %d hw %d", l.EndOffset(), l.HighWatermark())
	}
	if res, err := l.Read(0, 1<<20, true); err != nil || len(res.Data) != 0 {
		t.Fatalf("read before fsync: %d bytes, %v", len(res.Data), err)
	}
	if err := l.WaitDurable(context.Background(), info.LastOffset); err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != 3 {
		t.Fatalf("after WaitDurable: hw %d", l.HighWatermark())
	}
	if res, err := l.Read(0, 1<<20, true); err != nil || len(res.Data) == 0 {
		t.Fatalf("read after fsync: %d bytes, %v", len(res.Data), err)
	}
	if err := l.WaitDurable(context.Background(), 3); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("WaitDurable beyond the end: %v", err)
	}
}

func TestWaitDurableOtherPolicies(t *testing.T) {
	for _, p := range []FsyncPolicy{FsyncInterval, FsyncOS} {
		l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: p, FsyncInterval: 10 * time.Millisecond})
		info := mustAppend(t, l, recordsBatch(t, 1, 1, 10))
		if l.HighWatermark() != 1 {
			t.Fatalf("%v: hw %d right after append", p, l.HighWatermark())
		}
		if err := l.WaitDurable(context.Background(), info.LastOffset); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
	}
}

func TestIntervalFsync(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncInterval, FsyncInterval: 5 * time.Millisecond})
	mustAppend(t, l, recordsBatch(t, 2, 1, 10))
	deadline := time.Now().Add(5 * time.Second)
	for l.durable.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("background fsync never ran")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 10 // rolls too, so fsyncs cover closed segments
	l := openLog(t, t.TempDir(), cfg, Options{Fsync: FsyncAlways})
	const producers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				info, err := l.Append(recordsBatch(t, 1, int64(p*each+i), 100), AppendOptions{})
				if err == nil {
					err = l.WaitDurable(context.Background(), info.LastOffset)
				}
				if err == nil && l.HighWatermark() <= info.LastOffset {
					err = errors.New("hw below an offset WaitDurable returned for")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = producers * each
	if l.HighWatermark() != total {
		t.Fatalf("hw %d, want %d", l.HighWatermark(), total)
	}
	if n := l.fsyncs.Load(); n >= total {
		t.Fatalf("%d fsyncs for %d appends: no group commit", n, total)
	} else {
		t.Logf("%d fsyncs for %d appends", n, total)
	}
	if got := len(readAll(t, l)); got != total {
		t.Fatalf("read %d batches", got)
	}
}

func TestWaitDurableContext(t *testing.T) {
	l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncAlways})
	info := mustAppend(t, l, recordsBatch(t, 1, 1, 10))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.WaitDurable(ctx, info.LastOffset); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestWatch(t *testing.T) {
	received := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	t.Run("os", func(t *testing.T) {
		l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncOS})
		ch := make(chan struct{}, 1)
		cancel := l.Watch(ch)
		mustAppend(t, l, recordsBatch(t, 1, 1, 10))
		if !received(ch) {
			t.Fatal("no notification on append")
		}
		cancel()
		cancel()
		mustAppend(t, l, recordsBatch(t, 1, 1, 10))
		if received(ch) {
			t.Fatal("notified after cancel")
		}
	})
	t.Run("always", func(t *testing.T) {
		l := openLog(t, t.TempDir(), DefaultConfig(), Options{Fsync: FsyncAlways})
		ch, other := make(chan struct{}, 1), make(chan struct{}, 1)
		defer l.Watch(ch)()
		defer l.Watch(other)()
		info := mustAppend(t, l, recordsBatch(t, 1, 1, 10))
		if received(ch) {
			t.Fatal("notified before the data is durable")
		}
		if err := l.WaitDurable(context.Background(), info.LastOffset); err != nil {
			t.Fatal(err)
		}
		if !received(ch) || !received(other) {
			t.Fatal("no notification when the high watermark moved")
		}
	})
}
