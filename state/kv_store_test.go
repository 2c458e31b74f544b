package state

import (
	"errors"
	"slices"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

// layerCases are the layer stacks the typed-store tests run through. With a cache, the
// tests flush part-way so that iterators merge flushed and cached entries.
var layerCases = []struct {
	name string
	opts func() []Option
}{
	{"plain", func() []Option { return nil }},
	{"logged", func() []Option {
		return []Option{WithLogging(ChangelogSinkFunc(func(k, v []byte) error { return nil }))}
	}},
	{"cached", func() []Option { return []Option{WithCaching(1 << 20)} }},
	{"tiny-cache+logged", func() []Option {
		return []Option{WithCaching(3 * cacheEntryOverhead), WithLogging(ChangelogSinkFunc(func(k, v []byte) error { return nil }))}
	}},
}

// forEachStack runs f for every engine and layer stack, each with a fresh provider.
func forEachStack(t *testing.T, f func(t *testing.T, p Provider, opts []Option)) {
	for _, lc := range layerCases {
		t.Run(lc.name, func(t *testing.T) {
			forEachStoreEngine(t, func(t *testing.T, p Provider) { f(t, p, lc.opts()) })
		})
	}
}

func keysOf[K, V any](kvs []KeyValue[K, V]) []K {
	out := make([]K, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func TestKeyValueStoreReadWrite(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Int64(), opts...)
		defer s.Close()
		mustOK(t, s.Put("a", 1))
		mustOK(t, s.Put("b", 2))
		mustOK(t, s.Put("a", 3))
		got, found, err := s.Get("a")
		if err != nil || !found || got != 3 {
			t.Fatalf("Get(a) = %v, %v, %v; want 3, true", got, found, err)
		}
		if _, found, err := s.Get("zz"); err != nil || found {
			t.Fatalf("Get(zz) found=%v err=%v; want not found", found, err)
		}
		existing, found, err := s.PutIfAbsent("b", 9)
		if err != nil || !found || existing != 2 {
			t.Fatalf("PutIfAbsent(b) = %v, %v, %v; want 2, true", existing, found, err)
		}
		if _, found, err := s.PutIfAbsent("c", 4); err != nil || found {
			t.Fatalf("PutIfAbsent(c) found=%v err=%v", found, err)
		}
		mustOK(t, s.Flush())
		mustOK(t, s.Delete("b"))
		mustOK(t, s.Delete("missing"))
		mustOK(t, s.PutAll([]KeyValue[string, int64]{{"d", 5}, {"e", 6}, {"d", 7}}))
		all, err := collectKV(s.All())
		mustOK(t, err)
		want := []KeyValue[string, int64]{{"a", 3}, {"c", 4}, {"d", 7}, {"e", 6}}
		if !slices.Equal(all, want) {
			t.Fatalf("All = %v, want %v", all, want)
		}
		mustOK(t, s.Commit(nil))
		if n := s.ApproximateNumEntries(); n != 4 {
			t.Errorf("ApproximateNumEntries = %d after commit, want 4", n)
		}
	})
}

func TestKeyValueStoreNullValueDeletes(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.Nullable(serde.String()), opts...)
		defer s.Close()
		v := "x"
		mustOK(t, s.Put("k", &v))
		mustOK(t, s.Put("k", nil))
		if _, found, err := s.Get("k"); err != nil || found {
			t.Fatalf("Get after null put: found=%v err=%v; want deleted", found, err)
		}
		empty := ""
		mustOK(t, s.Put("e", &empty))
		got, found, err := s.Get("e")
		if err != nil || !found || got == nil || *got != "" {
			t.Fatalf("Get(e) = %v, %v, %v; want empty string", got, found, err)
		}
	})
}

func TestKeyValueStoreRanges(t *testing.T) {
	keys := []string{"b", "", "\xff\xff", "\x00", "a", "a\x00", "ab\xff", "a\x00b", "ab", "abc", "\xff"}
	type query struct {
		name string
		run  func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error)
		want []string
	}
	queries := []query{
		{"range a..ab", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.Range("a", "ab")
		}, []string{"a", "a\x00", "a\x00b", "ab"}},
		{"range excludes past to", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.Range("ab", "abc")
		}, []string{"ab", "abc"}},
		{"range of one", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.Range("b", "b")
		}, []string{"b"}},
		{"range from after to is empty", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.Range("b", "a")
		}, nil},
		{"range between keys", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.Range("abd", "abz")
		}, nil},
		{"range to the top", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.Range("b", "\xff\xff")
		}, []string{"b", "\xff", "\xff\xff"}},
		{"reverse range", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.ReverseRange("a", "ab")
		}, []string{"ab", "a\x00b", "a\x00", "a"}},
		{"reverse range from after to is empty", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.ReverseRange("ab", "a")
		}, nil},
		{"prefix a", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.PrefixScan("a")
		}, []string{"a", "a\x00", "a\x00b", "ab", "abc", "ab\xff"}},
		{"prefix ab includes ab itself", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.PrefixScan("ab")
		}, []string{"ab", "abc", "ab\xff"}},
		{"prefix with zero byte", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.PrefixScan("a\x00")
		}, []string{"a\x00", "a\x00b"}},
		{"prefix of 0xff runs to the end", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.PrefixScan("\xff")
		}, []string{"\xff", "\xff\xff"}},
		{"empty prefix is everything", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.PrefixScan("")
		}, []string{"", "\x00", "a", "a\x00", "a\x00b", "ab", "abc", "ab\xff", "b", "\xff", "\xff\xff"}},
		{"prefix with no match", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.PrefixScan("c")
		}, nil},
		{"all", func(s *KeyValueStore[string, string]) (KeyValueIterator[string, string], error) {
			return s.All()
		}, []string{"", "\x00", "a", "a\x00", "a\x00b", "ab", "abc", "ab\xff", "b", "\xff", "\xff\xff"}},
	}
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.String(), opts...)
		defer s.Close()
		// Half the keys reach the engine, half stay cached (when cached), and a
		// deleted key and a key deleted then rewritten are in both places.
		for i, k := range keys {
			mustOK(t, s.Put(k, "v"+k))
			if i == len(keys)/2 {
				mustOK(t, s.Put("aa", "gone"))
				mustOK(t, s.Put("a", "old"))
				mustOK(t, s.Flush())
				mustOK(t, s.Delete("aa"))
				mustOK(t, s.Delete("a"))
				mustOK(t, s.Put("a", "va"))
			}
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				got, err := collectKV(q.run(s))
				mustOK(t, err)
				for _, kv := range got {
					if kv.Value != "v"+kv.Key {
						t.Errorf("value of %q = %q", kv.Key, kv.Value)
					}
				}
				if k := keysOf(got); !slices.Equal(k, q.want) {
					t.Errorf("keys = %q, want %q", k, q.want)
				}
			})
		}
	})
}

func TestKeyValueStoreIntegerKeyOrder(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "ints"), serde.OrderedInt64(), serde.Bool())
		defer s.Close()
		for _, k := range []int64{5, -3, 0, 1 << 40, -1 << 40} {
			mustOK(t, s.Put(k, k > 0))
		}
		kvs, err := collectKV(s.Range(-3, 1<<40))
		mustOK(t, err)
		got := keysOf(kvs)
		if want := []int64{-3, 0, 5, 1 << 40}; !slices.Equal(got, want) {
			t.Fatalf("Range = %v, want %v", got, want)
		}
	})
}

func TestKeyValueStoreCorruptBytes(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		e := openStoreEngine(t, p, "kv")
		mustOK(t, e.Put([]byte("bad-value"), []byte{1, 2, 3}))
		s := NewKeyValueStore("kv", e, serde.String(), serde.Int64(), opts...)
		defer s.Close()
		_, _, err := s.Get("bad-value")
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("Get of a 3-byte int64: %v; want ErrCorrupt and serde.ErrDecode", err)
		}
		if _, err := collectKV(s.All()); !errors.Is(err, ErrCorrupt) || !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("iterating a bad value: %v; want ErrCorrupt and serde.ErrDecode", err)
		}

		// A key its serde cannot read stops an iterator with an error too.
		k := openStoreEngine(t, p, "keys")
		mustOK(t, k.Put([]byte("not an int32"), make([]byte, 8)))
		ints := NewKeyValueStore("keys", k, serde.Int32(), serde.Int64(), opts...)
		defer ints.Close()
		if _, err := collectKV(ints.All()); !errors.Is(err, ErrCorrupt) || !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("iterating a bad key: %v; want ErrCorrupt and serde.ErrDecode", err)
		}
	})
}

func TestKeyValueStoreEncodeErrors(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "enc"), serde.Bytes(), serde.Float64())
		defer s.Close()
		if err := s.Put(nil, 1); !errors.Is(err, serde.ErrEncode) {
			t.Fatalf("Put with null key: %v; want serde.ErrEncode", err)
		}
		if _, err := s.Range(nil, []byte("a")); !errors.Is(err, serde.ErrEncode) {
			t.Fatalf("Range from null key: %v; want serde.ErrEncode", err)
		}
	})
}

func TestKeyValueStoreClosed(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.String(), opts...)
		mustOK(t, s.Close())
		if err := s.Put("a", "b"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Put after Close: %v; want ErrClosed", err)
		}
		if _, _, err := s.Get("a"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get after Close: %v; want ErrClosed", err)
		}
	})
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{[]byte("ab"), []byte("ac")},
		{[]byte{'a', 0xff}, []byte("b")},
		{[]byte{0xff, 0xff}, nil},
		{[]byte{}, nil},
	} {
		if got := prefixEnd(tc.in); string(got) != string(tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("prefixEnd(%x) = %x, want %x", tc.in, got, tc.want)
		}
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
