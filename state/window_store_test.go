package state

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

// windowKV is a fetched window in a form tests can compare.
type windowKV struct {
	key        string
	start, end int64
	value      string
}

// windowsOf returns a function that drains a window iterator, failing t on errors.
func windowsOf(t *testing.T) func(KeyValueIterator[serde.Windowed[string], string], error) []windowKV {
	return func(it KeyValueIterator[serde.Windowed[string], string], err error) []windowKV {
		t.Helper()
		kvs, err := collectKV(it, err)
		mustOK(t, err)
		out := []windowKV{}
		for _, kv := range kvs {
			out = append(out, windowKV{kv.Key.Key, kv.Key.Start, kv.Key.End, kv.Value})
		}
		return out
	}
}

func testWindow(key string, start int64) windowKV {
	return windowKV{key, start, start + 10, fmt.Sprintf("%s@%d", key, start)}
}

func newTestWindowStore(t *testing.T, e Engine, cfg WindowConfig, opts ...Option) *WindowStore[string, string] {
	t.Helper()
	s, err := NewWindowStore("win", e, serde.String(), serde.String(), cfg, opts...)
	mustOK(t, err)
	return s
}

func TestWindowStoreFetch(t *testing.T) {
	type query struct {
		name string
		run  func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error)
		want []windowKV
	}
	queries := []query{
		{"fetch one key", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("a", 0, 20)
		}, []windowKV{testWindow("a", 0), testWindow("a", 10), testWindow("a", 20)}},
		{"fetch across segments and negative times", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("a", -100, 1000)
		}, []windowKV{testWindow("a", -20), testWindow("a", 0), testWindow("a", 10), testWindow("a", 20), testWindow("a", 150)}},
		{"fetch bounds are inclusive", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("a", 10, 150)
		}, []windowKV{testWindow("a", 10), testWindow("a", 20), testWindow("a", 150)}},
		{"fetch between windows", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("a", 11, 19)
		}, []windowKV{}},
		{"fetch from after to", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("a", 20, 10)
		}, []windowKV{}},
		{"fetch a key that others extend", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("ab", 0, 100)
		}, []windowKV{testWindow("ab", 10)}},
		{"fetch a key with a zero byte", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("a\x00", math.MinInt64, math.MaxInt64)
		}, []windowKV{testWindow("a\x00", 10)}},
		{"fetch missing key", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.Fetch("aa", math.MinInt64, math.MaxInt64)
		}, []windowKV{}},
		{"fetch range by key then start", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.FetchRange("a", "ab", 0, 20)
		}, []windowKV{testWindow("a", 0), testWindow("a", 10), testWindow("a", 20), testWindow("a\x00", 10), testWindow("ab", 10)}},
		{"fetch range filters time", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.FetchRange("a\x00", "b", 6, 1000)
		}, []windowKV{testWindow("a\x00", 10), testWindow("ab", 10), testWindow("b", 150)}},
		{"fetch range keys reversed", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.FetchRange("b", "a", 0, 1000)
		}, []windowKV{}},
		{"fetch all by segment, key, start", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.FetchAll(0, 150)
		}, []windowKV{testWindow("a", 0), testWindow("a", 10), testWindow("a", 20), testWindow("a\x00", 10), testWindow("ab", 10), testWindow("b", 5), testWindow("a", 150), testWindow("b", 150)}},
		{"fetch all in one segment", func(s *WindowStore[string, string]) (KeyValueIterator[serde.Windowed[string], string], error) {
			return s.FetchAll(100, 199)
		}, []windowKV{testWindow("a", 150), testWindow("b", 150)}},
	}
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := newTestWindowStore(t, openStoreEngine(t, p, "win"), WindowConfig{WindowSize: 10, Retention: 1000, SegmentInterval: 100}, opts...)
		defer s.Close()
		puts := []windowKV{testWindow("b", 150), testWindow("a", 0), testWindow("a", 20), testWindow("a", 10), testWindow("ab", 10), testWindow("a\x00", 10), testWindow("b", 5), testWindow("a", -20), testWindow("a", 150)}
		for i, w := range puts {
			mustOK(t, s.Put(w.key, w.value, w.start))
			if i == 3 {
				mustOK(t, s.Flush())
			}
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				if got := windowsOf(t)(q.run(s)); !slices.Equal(got, q.want) {
					t.Errorf("got  %v\nwant %v", got, q.want)
				}
			})
		}
		v, found, err := s.Get("a", 10)
		if err != nil || !found || v != "a@10" {
			t.Errorf("Get(a, 10) = %q, %v, %v", v, found, err)
		}
		if v, found, err := s.Get("a", -20); err != nil || !found || v != "a@-20" {
			t.Errorf("Get(a, -20) = %q, %v, %v", v, found, err)
		}
		if _, found, err := s.Get("a", 11); err != nil || found {
			t.Errorf("Get(a, 11) found=%v err=%v; want none", found, err)
		}
		mustOK(t, s.Delete("a", 10))
		if got := windowsOf(t)(s.Fetch("a", 0, 20)); !slices.Equal(got, []windowKV{testWindow("a", 0), testWindow("a", 20)}) {
			t.Errorf("after Delete(a, 10): %v", got)
		}
	})
}

// segmentIDs lists the segments that hold keys in the engine.
func segmentIDs(t *testing.T, e Engine) []int64 {
	var ids []int64
	for _, k := range engineKeys(t, e) {
		id := readOrdered(k)
		if len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestWindowStoreRetention(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		cfg := WindowConfig{WindowSize: 10, Retention: 100, SegmentInterval: 50}
		e := openStoreEngine(t, p, "win")
		s := newTestWindowStore(t, e, cfg, opts...)
		for _, start := range []int64{0, 40, 60} {
			mustOK(t, s.Put("a", fmt.Sprintf("a@%d", start), start))
		}
		// Stream time 120: live from 21, so the window at 0 is hidden but its segment
		// (0..49) is still live because of the window at 40.
		mustOK(t, s.Put("a", "a@120", 120))
		if got, want := windowsOf(t)(s.Fetch("a", math.MinInt64, math.MaxInt64)), []windowKV{testWindow("a", 40), testWindow("a", 60), testWindow("a", 120)}; !slices.Equal(got, want) {
			t.Fatalf("at stream time 120: %v, want %v", got, want)
		}
		if _, found, err := s.Get("a", 0); err != nil || found {
			t.Fatalf("Get of an expired window: found=%v err=%v", found, err)
		}
		if err := s.Put("a", "late", 20); !errors.Is(err, ErrExpired) {
			t.Fatalf("Put at 20 with stream time 120: %v; want ErrExpired", err)
		}
		mustOK(t, s.Put("a", "a@21", 21))
		mustOK(t, s.Flush())
		if got := segmentIDs(t, e); !slices.Equal(got, []int64{0, 1, 2}) {
			t.Fatalf("segments at stream time 120: %v", got)
		}
		// Stream time 160: live from 61, so segment 0 goes as a whole and segment 1
		// (50..99) stays for the window at 60... which is now hidden.
		mustOK(t, s.Put("a", "a@160", 160))
		mustOK(t, s.Flush())
		if got := segmentIDs(t, e); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("segments at stream time 160: %v, want [1 2 3]", got)
		}
		if got, want := windowsOf(t)(s.FetchAll(math.MinInt64, math.MaxInt64)), []windowKV{testWindow("a", 120), testWindow("a", 160)}; !slices.Equal(got, want) {
			t.Fatalf("at stream time 160: %v, want %v", got, want)
		}
		if st := s.ObservedStreamTime(); st != 160 {
			t.Fatalf("ObservedStreamTime = %d", st)
		}
		mustOK(t, s.Commit(map[string]int64{"cl-0": 7}))
		mustOK(t, s.Close())

		// Reopened, the store finds its segments and stream time again.
		s = newTestWindowStore(t, openStoreEngine(t, p, "win"), cfg, opts...)
		defer s.Close()
		if st := s.ObservedStreamTime(); st != 160 {
			t.Fatalf("ObservedStreamTime after reopen = %d, want 160", st)
		}
		if err := s.Put("a", "late", 60); !errors.Is(err, ErrExpired) {
			t.Fatalf("Put at 60 after reopen: %v; want ErrExpired", err)
		}
		if got, want := windowsOf(t)(s.FetchAll(math.MinInt64, math.MaxInt64)), []windowKV{testWindow("a", 120), testWindow("a", 160)}; !slices.Equal(got, want) {
			t.Fatalf("after reopen: %v, want %v", got, want)
		}
	})
}

func TestWindowStoreReopenDropsExpired(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		e := openStoreEngine(t, p, "win")
		s := newTestWindowStore(t, e, WindowConfig{WindowSize: 10, Retention: 1000, SegmentInterval: 50})
		mustOK(t, s.Put("a", "x", 0))
		mustOK(t, s.Put("a", "y", 500))
		mustOK(t, s.Commit(nil))
		mustOK(t, s.Close())
		// A shorter retention on reopen drops what it no longer keeps.
		e = openStoreEngine(t, p, "win")
		s = newTestWindowStore(t, e, WindowConfig{WindowSize: 10, Retention: 100, SegmentInterval: 50})
		defer s.Close()
		if got := segmentIDs(t, e); !slices.Equal(got, []int64{10}) {
			t.Fatalf("segments after reopen with shorter retention: %v", got)
		}
	})
}

func TestWindowStoreDuplicates(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := newTestWindowStore(t, openStoreEngine(t, p, "win"), WindowConfig{WindowSize: 10, Retention: 1000, RetainDuplicates: true}, opts...)
		defer s.Close()
		for _, v := range []string{"1", "2", "3"} {
			mustOK(t, s.Put("a", v, 10))
		}
		mustOK(t, s.Put("ab", "4", 10))
		mustOK(t, s.Put("a", "5", 11))
		mustOK(t, s.Delete("a", 10))
		var got []string
		kvs, err := collectKV(s.Fetch("a", 10, 11))
		mustOK(t, err)
		for _, kv := range kvs {
			got = append(got, fmt.Sprintf("%s@%d=%s", kv.Key.Key, kv.Key.Start, kv.Value))
		}
		if want := []string{"a@10=1", "a@10=2", "a@10=3", "a@11=5"}; !slices.Equal(got, want) {
			t.Fatalf("duplicates: %v, want %v", got, want)
		}
		if v, found, err := s.Get("a", 10); err != nil || !found || v != "1" {
			t.Fatalf("Get with duplicates = %q, %v, %v; want the first", v, found, err)
		}
	})
}

func TestWindowStoreNullValueDeletes(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s, err := NewWindowStore("win", openStoreEngine(t, p, "win"), serde.String(), serde.Nullable(serde.Int32()), WindowConfig{WindowSize: 10, Retention: 100}, opts...)
		mustOK(t, err)
		defer s.Close()
		v := int32(3)
		mustOK(t, s.Put("k", &v, 0))
		mustOK(t, s.Put("k", nil, 0))
		if _, found, err := s.Get("k", 0); err != nil || found {
			t.Fatalf("Get after null put: found=%v err=%v", found, err)
		}
	})
}

func TestWindowStoreCorruptBytes(t *testing.T) {
	cfg := WindowConfig{WindowSize: 10, Retention: 1000, SegmentInterval: 100}
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		short := openStoreEngine(t, p, "short")
		mustOK(t, short.Put([]byte{1, 2, 3}, []byte("v")))
		if _, err := NewWindowStore("win", short, serde.String(), serde.String(), cfg); !errors.Is(err, ErrCorrupt) {
			t.Errorf("open over a key without segment: %v; want ErrCorrupt", err)
		}

		bad := openStoreEngine(t, p, "bad")
		mustOK(t, bad.Put(concat(segmentPrefix(0), []byte("no terminator")), []byte("v")))
		if _, err := NewWindowStore("win", bad, serde.String(), serde.String(), cfg); !errors.Is(err, ErrCorrupt) || !errors.Is(err, serde.ErrDecode) {
			t.Errorf("open over an undecodable key: %v; want ErrCorrupt and serde.ErrDecode", err)
		}

		// Bad bytes outside the last segment show when read.
		e := openStoreEngine(t, p, "win")
		mustOK(t, e.Put(concat(segmentPrefix(0), []byte("no terminator")), []byte("v")))
		mustOK(t, e.Put(concat(segmentPrefix(1), concat(serde.WindowedKeyPrefix([]byte("k")), appendOrdered(nil, 150))), []byte("short")))
		s, err := NewWindowStore("win", e, serde.String(), serde.Int64(), cfg)
		mustOK(t, err)
		defer s.Close()
		mustOK(t, s.Put("k", 1, 160))
		if _, err := collectKV(s.FetchAll(0, 1000)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("FetchAll over a bad key: %v; want ErrCorrupt", err)
		}
		if _, err := collectKV(s.Fetch("k", 100, 200)); !errors.Is(err, ErrCorrupt) || !errors.Is(err, serde.ErrDecode) {
			t.Errorf("Fetch of a bad value: %v; want ErrCorrupt and serde.ErrDecode", err)
		}
	})
}

func TestWindowStoreConfig(t *testing.T) {
	p := NewMemoryProvider()
	defer p.Close()
	e := openStoreEngine(t, p, "win")
	for _, cfg := range []WindowConfig{{Retention: 10}, {WindowSize: 10}, {WindowSize: 1, Retention: 1, SegmentInterval: -1}} {
		if _, err := NewWindowStore("win", e, serde.String(), serde.String(), cfg); err == nil {
			t.Errorf("NewWindowStore accepted %+v", cfg)
		}
	}
}
