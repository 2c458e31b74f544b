package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

// listenerLog records what a flush listener is called with.
type listenerLog struct {
	mu    sync.Mutex
	calls []string
}

func optString[V any](v *V) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprint(*v)
}

func (l *listenerLog) record(key string, newValue, oldValue string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf("%s:%s<-%s", key, newValue, oldValue))
}

func (l *listenerLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string{}, l.calls...)
	l.calls = nil
	return out
}

// cachedKV returns a cached, logged store of int64 values and what it sends and flushes.
func cachedKV(t *testing.T, p Provider, cacheBytes int64) (*KeyValueStore[string, int64], *recordingSink, *listenerLog) {
	sink, log := &recordingSink{}, &listenerLog{}
	s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Int64(), WithCaching(cacheBytes), WithLogging(sink))
	if !s.SetFlushListener(func(key string, newValue, oldValue *int64) error {
		log.record(key, optString(newValue), optString(oldValue))
		return nil
	}) {
		t.Fatal("SetFlushListener reports no cache")
	}
	return s, sink, log
}

func int64Rec(key string, v int64) string {
	b, _ := serde.Int64().Encode(v)
	return sentRecord{[]byte(key), b}.String()
}

func tombRec(key string) string { return sentRecord{[]byte(key), nil}.String() }

func TestCacheMergesWritesAndFlushesInOrder(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s, sink, log := cachedKV(t, p, 1<<20)
		defer s.Close()
		mustOK(t, s.Put("a", 1))
		mustOK(t, s.Put("b", 1))
		mustOK(t, s.Put("a", 2)) // moves a behind b in the flush order
		mustOK(t, s.Put("c", 1))
		mustOK(t, s.Delete("c")) // c never reached the engine: nothing to log
		mustOK(t, s.Put("d", 1))
		mustOK(t, s.Delete("e")) // e was never there either
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("changelog before flush: %v", got)
		}
		if v, found, err := s.Get("a"); err != nil || !found || v != 2 {
			t.Fatalf("Get(a) from cache = %v, %v, %v", v, found, err)
		}
		mustOK(t, s.Flush())
		if got, want := sink.take(), []string{int64Rec("b", 1), int64Rec("a", 2), int64Rec("d", 1)}; !slices.Equal(got, want) {
			t.Fatalf("changelog after flush %v\nwant %v", got, want)
		}
		if got, want := log.take(), []string{"b:1<-<nil>", "a:2<-<nil>", "d:1<-<nil>"}; !slices.Equal(got, want) {
			t.Fatalf("listener %v, want %v", got, want)
		}
		// The next interval sees the old values below.
		mustOK(t, s.Put("a", 3))
		mustOK(t, s.Delete("b"))
		mustOK(t, s.Put("a", 4))
		mustOK(t, s.Commit(map[string]int64{"kv-changelog-0": 42}))
		if got, want := sink.take(), []string{tombRec("b"), int64Rec("a", 4)}; !slices.Equal(got, want) {
			t.Fatalf("changelog after commit %v\nwant %v", got, want)
		}
		if got, want := log.take(), []string{"b:<nil><-1", "a:4<-2"}; !slices.Equal(got, want) {
			t.Fatalf("listener %v, want %v", got, want)
		}
		mustOK(t, s.Flush())
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("second flush sentRecord %v", got)
		}
		offsets, err := s.top.CommittedOffsets()
		mustOK(t, err)
		if offsets["kv-changelog-0"] != 42 {
			t.Fatalf("committed offsets %v", offsets)
		}
	})
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	entry := int64(1 + 8 + cacheEntryOverhead) // one-byte key, int64 value
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s, sink, log := cachedKV(t, p, 3*entry)
		defer s.Close()
		mustOK(t, s.Put("a", 1))
		mustOK(t, s.Put("b", 2))
		mustOK(t, s.Put("c", 3))
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("evicted within budget: %v", got)
		}
		if _, _, err := s.Get("a"); err != nil { // a is now the most recently used
			t.Fatal(err)
		}
		mustOK(t, s.Put("d", 4))
		if got, want := sink.take(), []string{int64Rec("b", 2)}; !slices.Equal(got, want) {
			t.Fatalf("evicting for d sentRecord %v, want %v", got, want)
		}
		if got, want := log.take(), []string{"b:2<-<nil>"}; !slices.Equal(got, want) {
			t.Fatalf("evicting for d forwarded %v, want %v", got, want)
		}
		// b is read back from below, and caching it again evicts c.
		if v, found, err := s.Get("b"); err != nil || !found || v != 2 {
			t.Fatalf("Get(b) after eviction = %v, %v, %v", v, found, err)
		}
		if got, want := sink.take(), []string{int64Rec("c", 3)}; !slices.Equal(got, want) {
			t.Fatalf("reading b sentRecord %v, want %v", got, want)
		}
		// An iterator sees cached and evicted entries alike.
		kvs, err := collectKV(s.All())
		mustOK(t, err)
		if got := fmt.Sprint(kvs); got != "[{a 1} {b 2} {c 3} {d 4}]" {
			t.Fatalf("All = %s", got)
		}
		mustOK(t, s.Flush())
		if got, want := sink.take(), []string{int64Rec("a", 1), int64Rec("d", 4)}; !slices.Equal(got, want) {
			t.Fatalf("flush sentRecord %v, want %v", got, want)
		}
		if s.cache.bytes > 3*entry {
			t.Fatalf("cache holds %d bytes, budget %d", s.cache.bytes, 3*entry)
		}
	})
}

func TestCacheEntryLargerThanBudget(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s, sink, _ := cachedKV(t, p, 10)
		defer s.Close()
		mustOK(t, s.Put("big", 1))
		if got, want := sink.take(), []string{int64Rec("big", 1)}; !slices.Equal(got, want) {
			t.Fatalf("sentRecord %v, want %v", got, want)
		}
		if v, found, err := s.Get("big"); err != nil || !found || v != 1 {
			t.Fatalf("Get(big) = %v, %v, %v", v, found, err)
		}
	})
}

func TestCacheListenerMayUseTheStore(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Int64(), WithCaching(1<<20))
		defer s.Close()
		var seen []string
		s.SetFlushListener(func(key string, newValue, _ *int64) error {
			seen = append(seen, key)
			if key == "a" {
				// Written during the flush: stays dirty for the next one.
				if err := s.Put("a-copy", *newValue); err != nil {
					return err
				}
				_, _, err := s.Get("b")
				return err
			}
			return nil
		})
		mustOK(t, s.Put("a", 1))
		mustOK(t, s.Put("b", 2))
		mustOK(t, s.Flush())
		mustOK(t, s.Flush())
		if want := []string{"a", "b", "a-copy"}; !slices.Equal(seen, want) {
			t.Fatalf("flushed %v, want %v", seen, want)
		}
	})
}

func TestCacheListenerError(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Int64(), WithCaching(1<<20))
		defer s.Close()
		boom := errors.New("downstream failed")
		s.SetFlushListener(func(string, *int64, *int64) error { return boom })
		mustOK(t, s.Put("a", 1))
		if err := s.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush: %v; want %v", err, boom)
		}
		if err := s.Commit(nil); err != nil {
			t.Fatalf("Commit after the failed listener call: %v", err)
		}
	})
}

func TestCacheCloseDiscardsUnflushed(t *testing.T) {
	p := NewMemoryProvider()
	defer p.Close()
	s, sink, _ := cachedKV(t, p, 1<<20)
	mustOK(t, s.Put("kept", 1))
	mustOK(t, s.Commit(nil))
	mustOK(t, s.Put("lost", 2))
	mustOK(t, s.Close())
	if got := sink.take(); len(got) != 1 {
		t.Fatalf("sentRecord %v; want only the committed write", got)
	}
	s, _, _ = cachedKV(t, p, 1<<20)
	defer s.Close()
	kvs, err := collectKV(s.All())
	mustOK(t, err)
	if got := fmt.Sprint(kvs); got != "[{kept 1}]" {
		t.Fatalf("after reopen: %s", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v; want ErrClosed", err)
	}
}

func TestCacheFlushesExpiredSegmentBeforeDropping(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		sink := &recordingSink{}
		e := openStoreEngine(t, p, "win")
		s, err := NewWindowStore("win", e, serde.String(), serde.Int64(), WindowConfig{WindowSize: 10, Retention: 100, SegmentInterval: 50}, WithCaching(1<<20), WithLogging(sink))
		mustOK(t, err)
		defer s.Close()
		var forwarded []string
		s.SetFlushListener(func(w serde.Windowed[string], newValue, oldValue *int64) error {
			forwarded = append(forwarded, fmt.Sprintf("%s[%d,%d]:%s<-%s", w.Key, w.Start, w.End, optString(newValue), optString(oldValue)))
			return nil
		})
		mustOK(t, s.Put("a", 1, 0))
		mustOK(t, s.Put("a", 2, 0))
		mustOK(t, s.Put("b", 3, 60))
		mustOK(t, s.Put("c", 5, 150))
		mustOK(t, s.Put("a", 4, 200)) // expires segments 0 and 1 while their windows are cached
		if want := []string{"a[0,10]:2<-<nil>", "b[60,70]:3<-<nil>"}; !slices.Equal(forwarded, want) {
			t.Fatalf("forwarded %v, want %v", forwarded, want)
		}
		if got := sink.take(); len(got) != 2 {
			t.Fatalf("changelog %v, want the merged a@0 and b@60", got)
		}
		mustOK(t, s.Flush())
		if got := segmentIDs(t, e); !slices.Equal(got, []int64{3, 4}) {
			t.Fatalf("segments %v, want [3 4]", got)
		}
		if got := len(sink.take()); got != 2 {
			t.Fatalf("flush sentRecord %d records, want 2", got)
		}
	})
}

func TestCacheConcurrentReaders(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.Int32(), serde.Int64(), WithCaching(20*cacheEntryOverhead), WithLogging(ChangelogSinkFunc(func(k, v []byte) error { return nil })))
		defer s.Close()
		const keys, rounds = 50, 20
		done := make(chan error)
		go func() {
			var err error
			for i := 0; i < rounds*5 && err == nil; i++ {
				if _, _, err = s.Get(int32(i % keys)); err != nil {
					break
				}
				var kvs []KeyValue[int32, int64]
				kvs, err = collectKV(s.Range(0, keys))
				for j := 1; j < len(kvs) && err == nil; j++ {
					if kvs[j-1].Key >= kvs[j].Key {
						err = fmt.Errorf("range out of order: %v", kvs)
					}
				}
			}
			done <- err
		}()
		for r := int64(0); r < rounds; r++ {
			for k := int32(0); k < keys; k++ {
				mustOK(t, s.Put(k, r))
			}
			mustOK(t, s.Flush())
		}
		mustOK(t, <-done)
		kvs, err := collectKV(s.All())
		mustOK(t, err)
		if len(kvs) != keys || kvs[0].Value != rounds-1 || kvs[keys-1].Value != rounds-1 {
			t.Fatalf("final state: %v", kvs)
		}
	})
}

func TestSetFlushListenerWithoutCache(t *testing.T) {
	p := NewMemoryProvider()
	defer p.Close()
	s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Int64())
	defer s.Close()
	if s.SetFlushListener(func(string, *int64, *int64) error { return nil }) {
		t.Fatal("SetFlushListener reports a cache on an uncached store")
	}
	mustOK(t, s.Flush())
}

func TestMergedIteratorReverse(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Int64(), WithCaching(1<<20))
		defer s.Close()
		for i, k := range []string{"a", "b", "c", "d", "e"} {
			mustOK(t, s.Put(k, int64(i)))
		}
		mustOK(t, s.Flush())
		mustOK(t, s.Put("b", 10))  // cached over flushed
		mustOK(t, s.Delete("d"))   // cached tombstone over flushed
		mustOK(t, s.Put("bb", 11)) // cached only
		mustOK(t, s.Delete("zz"))  // tombstone of nothing
		kvs, err := collectKV(s.ReverseRange("a", "z"))
		mustOK(t, err)
		if got := fmt.Sprint(kvs); got != "[{e 4} {c 2} {bb 11} {b 10} {a 0}]" {
			t.Fatalf("ReverseRange = %s", got)
		}
		kvs, err = collectKV(s.Range("b", "c"))
		mustOK(t, err)
		if got := fmt.Sprint(kvs); got != "[{b 10} {bb 11} {c 2}]" {
			t.Fatalf("Range = %s", got)
		}
	})
}

// TestCacheRandomOps checks a small cache (so that reads and writes keep evicting)
// against a map under random writes, reads, ranges, flushes and prefix deletes, and
// that everything it passed down, and only that, is below it after each flush.
func TestCacheRandomOps(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		inner := openStoreEngine(t, p, "kv")
		c := newCachingEngine(inner, 8*(2+4+cacheEntryOverhead))
		defer c.Close()
		rng := rand.New(rand.NewPCG(3, 4))
		model := map[string]string{}
		key := func() []byte { return fmt.Appendf(nil, "%c%c", 'a'+rng.IntN(4), 'a'+rng.IntN(6)) }
		sorted := func(from, to []byte) []string {
			var out []string
			for _, k := range slices.Sorted(maps.Keys(model)) {
				if (from == nil || k >= string(from)) && (to == nil || k < string(to)) {
					out = append(out, k+"="+model[k])
				}
			}
			return out
		}
		for i := range 4000 {
			switch op := rng.IntN(100); {
			case op < 40:
				k, v := key(), fmt.Sprintf("%04d", i)
				mustOK(t, c.Put(k, []byte(v)))
				model[string(k)] = v
			case op < 55:
				k := key()
				mustOK(t, c.Delete(k))
				delete(model, string(k))
			case op < 57:
				pre := key()[:1]
				mustOK(t, c.DeletePrefix(pre))
				maps.DeleteFunc(model, func(k, _ string) bool { return k[0] == pre[0] })
			case op < 62:
				mustOK(t, c.Flush())
				if got, want := scan(t, inner, nil, nil, false), sorted(nil, nil); !slices.Equal(got, want) {
					t.Fatalf("op %d: below the cache after Flush %q, want %q", i, got, want)
				}
			case op < 85:
				k := key()
				v, found, err := c.Get(k)
				mustOK(t, err)
				if mv, ok := model[string(k)]; ok != found || string(v) != mv {
					t.Fatalf("op %d: Get(%s) = %q %v, want %q %v", i, k, v, found, mv, ok)
				}
			default:
				from, to, reverse := key(), key(), rng.IntN(2) == 0
				want := sorted(from, to)
				if bytes.Compare(from, to) >= 0 {
					want = nil
				}
				if reverse {
					slices.Reverse(want)
				}
				if got := scan(t, c, from, to, reverse); !slices.Equal(got, want) {
					t.Fatalf("op %d: Iterate(%s, %s, %v) = %q, want %q", i, from, to, reverse, got, want)
				}
			}
			if c.bytes > c.maxBytes {
				t.Fatalf("op %d: cache holds %d bytes, budget %d", i, c.bytes, c.maxBytes)
			}
			var n int
			var size int64
			for e := c.lru.head; e != nil; e = c.lru.next(e) {
				n++
				size += e.size()
			}
			var dirty int
			for e := c.dirty.head; e != nil; e = c.dirty.next(e) {
				dirty++
			}
			if n != len(c.entries) || size != c.bytes || dirty != c.dirtySorted.Len() {
				t.Fatalf("op %d: lru has %d entries of %d bytes, map %d, counted %d bytes; dirty list %d, index %d", i, n, size, len(c.entries), c.bytes, dirty, c.dirtySorted.Len())
			}
		}
	})
}
