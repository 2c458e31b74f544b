package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// engineKind opens providers of one engine; reopen gives a provider over the same state
// as the previous one (the same directory for Badger, the same provider for memory).
type engineKind struct {
	name   string
	open   func(t *testing.T) Provider
	reopen func(t *testing.T, old Provider) Provider
}

func badgerKind(name string, opts BadgerOptions) engineKind {
	dirs := map[Provider]string{}
	open := func(t *testing.T, dir string) Provider {
		p, err := NewBadgerProvider(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		dirs[p] = dir
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	return engineKind{
		name: name,
		open: func(t *testing.T) Provider { return open(t, t.TempDir()) },
		reopen: func(t *testing.T, old Provider) Provider {
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dirs[old])
		},
	}
}

// engineKinds are the engines every behaviour test runs against; badger-spill writes
// its overlay to Badger on every write, so reads merge uncommitted Badger data too.
var engineKinds = []engineKind{
	{
		name:   "memory",
		open:   func(t *testing.T) Provider { return NewMemoryProvider() },
		reopen: func(t *testing.T, old Provider) Provider { return old },
	},
	badgerKind("badger", BadgerOptions{}),
	badgerKind("badger-spill", BadgerOptions{MaxPendingBytes: 1}),
}

func eachEngine(t *testing.T, f func(t *testing.T, k engineKind, e Engine)) {
	for _, k := range engineKinds {
		t.Run(k.name, func(t *testing.T) {
			p := k.open(t)
			e, err := p.Open("0_0", "store")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close() })
			f(t, k, e)
		})
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func scan(t *testing.T, e Engine, from, to []byte, reverse bool) []string {
	t.Helper()
	it, err := e.Iterate(from, to, reverse)
	noErr(t, err)
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	noErr(t, it.Err())
	return out
}

func bs(s string) []byte {
	if s == "<nil>" {
		return nil
	}
	return []byte(s)
}

func TestEngineRanges(t *testing.T) {
	keys := []string{"b", "a", "ab", "c", "\x00", "\xff", "ba", "d"}
	tests := []struct {
		name     string
		from, to string
		reverse  bool
		want     string
	}{
		{"all", "<nil>", "<nil>", false, "\x00 a ab b ba c d \xff"},
		{"all reverse", "<nil>", "<nil>", true, "\xff d c ba b ab a \x00"},
		{"half open", "ab", "c", false, "ab b ba"},
		{"half open reverse", "ab", "c", true, "ba b ab"},
		{"from only", "c", "<nil>", false, "c d \xff"},
		{"to only reverse", "<nil>", "ab", true, "a \x00"},
		{"bounds between keys", "aa", "bb", false, "ab b ba"},
		{"bounds between keys reverse", "aa", "bb", true, "ba b ab"},
		{"empty range", "b", "b", false, ""},
		{"inverted range", "c", "a", false, ""},
		{"inverted range reverse", "c", "a", true, ""},
		{"past the end", "e", "f", false, ""},
	}
	for _, state := range []string{"pending", "committed", "mixed"} {
		eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
			for i, key := range keys {
				noErr(t, e.Put([]byte(key), []byte(key)))
				if state == "mixed" && i == len(keys)/2 {
					noErr(t, e.Commit(nil))
				}
			}
			if state == "committed" {
				noErr(t, e.Commit(nil))
			}
			for _, tc := range tests {
				got := scan(t, e, bs(tc.from), bs(tc.to), tc.reverse)
				var want []string
				for _, k := range bytes.Fields([]byte(tc.want)) {
					want = append(want, string(k)+"="+string(k))
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s/%s: got %q want %q", state, tc.name, got, want)
				}
			}
		})
	}
}

func TestEngineGetPutDelete(t *testing.T) {
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		key := []byte("k")
		if _, found, err := e.Get(key); err != nil || found {
			t.Fatalf("missing key: found=%v err=%v", found, err)
		}
		noErr(t, e.Put(key, nil))
		v, found, err := e.Get(key)
		if err != nil || !found || v == nil || len(v) != 0 {
			t.Fatalf("nil put: got %q found=%v err=%v, want empty value", v, found, err)
		}
		buf := []byte("value")
		noErr(t, e.Put(key, buf))
		buf[0] = 'X' // the engine must have copied
		noErr(t, e.Commit(nil))
		if v, _, _ := e.Get(key); string(v) != "value" {
			t.Fatalf("got %q after caller reused its buffer", v)
		}
		noErr(t, e.Delete(key))
		noErr(t, e.Delete([]byte("never there")))
		if _, found, _ := e.Get(key); found {
			t.Fatal("deleted key found")
		}
		noErr(t, e.Commit(nil))
		if _, found, _ := e.Get(key); found {
			t.Fatal("deleted key found after commit")
		}
	})
}

func TestEngineDeletePrefix(t *testing.T) {
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		for _, key := range []string{"s1/a", "s1/b", "s1", "s2/a", "s0/z"} {
			noErr(t, e.Put([]byte(key), []byte("c")))
		}
		noErr(t, e.Commit(nil))
		noErr(t, e.Put([]byte("s1/c"), []byte("p")))
		noErr(t, e.Delete([]byte("s1/a")))
		noErr(t, e.DeletePrefix([]byte("s1/")))
		noErr(t, e.Put([]byte("s1/d"), []byte("after")))
		want := []string{"s0/z=c", "s1=c", "s1/d=after", "s2/a=c"}
		if got := scan(t, e, nil, nil, false); !slices.Equal(got, want) {
			t.Fatalf("before commit: got %q want %q", got, want)
		}
		noErr(t, e.Commit(nil))
		if got := scan(t, e, nil, nil, false); !slices.Equal(got, want) {
			t.Fatalf("after commit: got %q want %q", got, want)
		}
		noErr(t, e.DeletePrefix(nil))
		if got := scan(t, e, nil, nil, false); len(got) != 0 {
			t.Fatalf("empty prefix left %q", got)
		}
	})
}

func TestEngineIterateSnapshot(t *testing.T) {
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		for i := range 10 {
			noErr(t, e.Put(fmt.Appendf(nil, "k%d", i), []byte("old")))
		}
		noErr(t, e.Commit(nil))
		noErr(t, e.Put([]byte("k5"), []byte("pending")))
		it, err := e.Iterate(nil, nil, false)
		noErr(t, err)
		defer it.Close()
		// Writes, a commit and another iterator while the first is open.
		noErr(t, e.Put([]byte("k0"), []byte("new")))
		noErr(t, e.Delete([]byte("k1")))
		noErr(t, e.Put([]byte("k10"), []byte("new")))
		noErr(t, e.DeletePrefix([]byte("k9")))
		noErr(t, e.Commit(nil))
		noErr(t, e.Put([]byte("k2"), []byte("new")))
		var got []string
		for it.Next() {
			got = append(got, string(it.Key())+"="+string(it.Value()))
		}
		noErr(t, it.Err())
		want := []string{"k0=old", "k1=old", "k2=old", "k3=old", "k4=old", "k5=pending", "k6=old", "k7=old", "k8=old", "k9=old"}
		if !slices.Equal(got, want) {
			t.Fatalf("snapshot: got %q want %q", got, want)
		}
		now := scan(t, e, nil, []byte("k3"), false)
		if want := []string{"k0=new", "k10=new", "k2=new"}; !slices.Equal(now, want) {
			t.Fatalf("new iterator: got %q want %q", now, want)
		}
	})
}

func TestEngineCommitAndReopen(t *testing.T) {
	for _, k := range engineKinds {
		t.Run(k.name, func(t *testing.T) {
			p := k.open(t)
			e, err := p.Open("1_2", "counts")
			noErr(t, err)
			if off, err := e.CommittedOffsets(); err != nil || off == nil || len(off) != 0 {
				t.Fatalf("fresh offsets %v, %v; want empty", off, err)
			}
			offsets := map[string]int64{"app-counts-changelog-2": 41, "in-2": 7}
			noErr(t, e.Put([]byte("a"), []byte("1")))
			noErr(t, e.Put([]byte("gone"), []byte("1")))
			noErr(t, e.Commit(offsets))
			offsets["in-2"] = 99 // the engine must have copied
			noErr(t, e.Put([]byte("b"), []byte("uncommitted")))
			noErr(t, e.Put([]byte("a"), []byte("uncommitted")))
			noErr(t, e.Delete([]byte("gone")))
			got, err := e.CommittedOffsets()
			noErr(t, err)
			want := map[string]int64{"app-counts-changelog-2": 41, "in-2": 7}
			if !maps.Equal(got, want) {
				t.Fatalf("offsets %v want %v", got, want)
			}
			noErr(t, e.Close())

			p = k.reopen(t, p)
			e, err = p.Open("1_2", "counts")
			noErr(t, err)
			defer e.Close()
			if got, _ := e.CommittedOffsets(); !maps.Equal(got, want) {
				t.Fatalf("reopened offsets %v want %v", got, want)
			}
			if got := scan(t, e, nil, nil, false); !slices.Equal(got, []string{"a=1", "gone=1"}) {
				t.Fatalf("reopened data %q, want the last commit", got)
			}
			// Commit again after a reopen: versions continue past the rolled back ones.
			noErr(t, e.Put([]byte("c"), []byte("3")))
			noErr(t, e.Commit(map[string]int64{"in-2": 8}))
			noErr(t, e.Close())
			p = k.reopen(t, p)
			e, err = p.Open("1_2", "counts")
			noErr(t, err)
			defer e.Close()
			if got := scan(t, e, nil, nil, false); !slices.Equal(got, []string{"a=1", "c=3", "gone=1"}) {
				t.Fatalf("second reopen data %q", got)
			}
			if got, _ := e.CommittedOffsets(); !maps.Equal(got, map[string]int64{"in-2": 8}) {
				t.Fatalf("second reopen offsets %v", got)
			}
		})
	}
}

func TestEngineRestore(t *testing.T) {
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		r, ok := e.(Restorer)
		if !ok {
			t.Fatal("engine is not a Restorer")
		}
		noErr(t, e.Put([]byte("x"), []byte("pending")))
		batch := []KV{
			{Key: []byte("a"), Value: []byte("1")},
			{Key: []byte("b"), Value: []byte("1")},
			{Key: []byte("a"), Value: []byte("2")},
			{Key: []byte("b"), Value: nil},
			{Key: []byte("e"), Value: []byte{}},
		}
		noErr(t, r.Restore(batch, map[string]int64{"cl-0": 5}))
		want := []string{"a=2", "e=", "x=pending"}
		if got := scan(t, e, nil, nil, false); !slices.Equal(got, want) {
			t.Fatalf("got %q want %q", got, want)
		}
		if v, found, _ := e.Get([]byte("e")); !found || v == nil {
			t.Fatal("empty restored value must be found and non-nil")
		}
		if got, _ := e.CommittedOffsets(); !maps.Equal(got, map[string]int64{"cl-0": 5}) {
			t.Fatalf("offsets %v", got)
		}
	})
}

func TestEngineClosed(t *testing.T) {
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		noErr(t, e.Put([]byte("a"), []byte("1")))
		it, err := e.Iterate(nil, nil, false)
		noErr(t, err)
		noErr(t, e.Close())
		noErr(t, e.Close())
		if it.Next() || !errors.Is(it.Err(), ErrClosed) {
			t.Fatalf("iterator after close: err %v", it.Err())
		}
		noErr(t, it.Close())
		_, _, err = e.Get([]byte("a"))
		checks := map[string]error{
			"Get":              err,
			"Put":              e.Put([]byte("a"), nil),
			"Delete":           e.Delete([]byte("a")),
			"DeletePrefix":     e.DeletePrefix(nil),
			"Commit":           e.Commit(nil),
			"Restore":          e.(Restorer).Restore(nil, nil),
			"Iterate":          errOf(e.Iterate(nil, nil, false)),
			"CommittedOffsets": errOf(e.CommittedOffsets()),
		}
		for name, err := range checks {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s on closed engine: %v, want ErrClosed", name, err)
			}
		}
	})
}

func errOf[T any](_ T, err error) error { return err }

func TestProviderOpenDrop(t *testing.T) {
	for _, k := range engineKinds {
		t.Run(k.name, func(t *testing.T) {
			p := k.open(t)
			e, err := p.Open("0_1", "s")
			noErr(t, err)
			if _, err := p.Open("0_1", "s"); !errors.Is(err, ErrInUse) {
				t.Fatalf("second open: %v, want ErrInUse", err)
			}
			if err := p.Drop("0_1", "s"); !errors.Is(err, ErrInUse) {
				t.Fatalf("drop while open: %v, want ErrInUse", err)
			}
			for _, bad := range [][2]string{{"", "s"}, {"0_1", ".."}, {"a/b", "s"}, {"0_1", "x\\y"}} {
				if _, err := p.Open(bad[0], bad[1]); err == nil {
					t.Errorf("Open(%q, %q) accepted", bad[0], bad[1])
				}
			}
			noErr(t, e.Put([]byte("k"), []byte("v")))
			noErr(t, e.Commit(map[string]int64{"c": 1}))
			noErr(t, e.Close())
			noErr(t, p.Drop("0_1", "s"))
			noErr(t, p.Drop("0_1", "never-opened"))
			e, err = p.Open("0_1", "s")
			noErr(t, err)
			if got := scan(t, e, nil, nil, false); len(got) != 0 {
				t.Fatalf("dropped store still holds %q", got)
			}
			if off, _ := e.CommittedOffsets(); len(off) != 0 {
				t.Fatalf("dropped store still has offsets %v", off)
			}
			noErr(t, p.Close())
			if _, _, err := e.Get([]byte("k")); !errors.Is(err, ErrClosed) {
				t.Fatalf("engine after provider close: %v", err)
			}
		})
	}
}

// TestEngineRandomOps checks both engines against a map under random writes, prefix
// deletes, commits and range reads, with and without overlay spills.
func TestEngineRandomOps(t *testing.T) {
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		rng := rand.New(rand.NewPCG(1, 2))
		model := map[string]string{}
		key := func() []byte { return fmt.Appendf(nil, "%c%c", 'a'+rng.IntN(6), 'a'+rng.IntN(6)) }
		for i := range 3000 {
			switch op := rng.IntN(100); {
			case op < 50:
				kk, v := key(), fmt.Sprint(i)
				noErr(t, e.Put(kk, []byte(v)))
				model[string(kk)] = v
			case op < 75:
				kk := key()
				noErr(t, e.Delete(kk))
				delete(model, string(kk))
			case op < 77:
				p := key()[:1]
				noErr(t, e.DeletePrefix(p))
				maps.DeleteFunc(model, func(k, _ string) bool { return k[0] == p[0] })
			case op < 82:
				noErr(t, e.Commit(map[string]int64{"i": int64(i)}))
			case op < 90:
				kk := key()
				v, found, err := e.Get(kk)
				noErr(t, err)
				if mv, ok := model[string(kk)]; ok != found || string(v) != mv {
					t.Fatalf("op %d Get(%s) = %q %v, want %q %v", i, kk, v, found, mv, ok)
				}
			default:
				from, to, reverse := key(), key(), rng.IntN(2) == 0
				if rng.IntN(4) == 0 {
					from = nil
				}
				var want []string
				for _, mk := range slices.Sorted(maps.Keys(model)) {
					if (from == nil || mk >= string(from)) && mk < string(to) {
						want = append(want, mk+"="+model[mk])
					}
				}
				if reverse {
					slices.Reverse(want)
				}
				if got := scan(t, e, from, to, reverse); !slices.Equal(got, want) {
					t.Fatalf("op %d Iterate(%q, %q, %v) = %q, want %q", i, from, to, reverse, got, want)
				}
			}
		}
		if n := e.ApproximateCount(); n != int64(len(model)) {
			t.Errorf("ApproximateCount %d, want %d", n, len(model))
		}
	})
}

// TestEngineIterateSnapshotAcrossChunks writes while iterators are part-way through
// more keys than one cursor chunk, so later chunks are read after the writes: each
// iterator must still see the engine as it was when it was made.
func TestEngineIterateSnapshotAcrossChunks(t *testing.T) {
	const n = 3*cursorChunk + 7
	key := func(i int) []byte { return fmt.Appendf(nil, "k%04d", i) }
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		for _, reverse := range []bool{false, true} {
			for i := range n {
				noErr(t, e.Put(key(i), []byte("v0")))
			}
			noErr(t, e.Commit(nil))
			want0 := scan(t, e, nil, nil, reverse)
			it0, err := e.Iterate(nil, nil, reverse)
			noErr(t, err)
			var got0, got1 []string
			var it1 Iterator
			var want1 []string
			for step := 0; it0.Next(); step++ {
				got0 = append(got0, string(it0.Key())+"="+string(it0.Value()))
				// Overwrite, delete and insert keys on both sides of the iterators.
				i := (step * 7) % n
				noErr(t, e.Put(key(i), fmt.Appendf(nil, "v%d", step+1)))
				noErr(t, e.Delete(key((i+cursorChunk)%n)))
				noErr(t, e.Put(fmt.Appendf(key(i), "+"), []byte("new")))
				if step%50 == 0 {
					noErr(t, e.Commit(nil))
				}
				switch step {
				case cursorChunk / 2:
					// A second iterator, made after writes, sees those writes only.
					want1 = scan(t, e, nil, nil, reverse)
					if it1, err = e.Iterate(nil, nil, reverse); err != nil {
						t.Fatal(err)
					}
				case cursorChunk/2 + 1:
					noErr(t, e.DeletePrefix([]byte("k01")))
				}
				if it1 != nil && step%2 == 0 && it1.Next() {
					got1 = append(got1, string(it1.Key())+"="+string(it1.Value()))
				}
			}
			noErr(t, it0.Err())
			noErr(t, it0.Close())
			for it1.Next() {
				got1 = append(got1, string(it1.Key())+"="+string(it1.Value()))
			}
			noErr(t, it1.Err())
			noErr(t, it1.Close())
			if !slices.Equal(got0, want0) {
				t.Fatalf("reverse=%v: first iterator saw %d entries, not its snapshot of %d:\n%q", reverse, len(got0), len(want0), got0)
			}
			if !slices.Equal(got1, want1) {
				t.Fatalf("reverse=%v: second iterator saw %d entries, not its snapshot of %d", reverse, len(got1), len(want1))
			}
			noErr(t, e.DeletePrefix(nil))
			noErr(t, e.Commit(nil))
		}
	})
}

// TestEngineIterateWhileWriting runs iterators in other goroutines while one writes,
// as interactive queries do. Each round the writer sets every key, in key order, to the
// round's number, so any instant's state reads as values that step down by at most one
// along the keys; an iterator that mixed states from different instants would see a
// value rise.
func TestEngineIterateWhileWriting(t *testing.T) {
	const n, rounds, readers = 2*cursorChunk + 50, 12, 2
	key := func(i int) []byte { return fmt.Appendf(nil, "k%04d", i) }
	eachEngine(t, func(t *testing.T, k engineKind, e Engine) {
		for i := range n {
			noErr(t, e.Put(key(i), []byte("0")))
		}
		done := make(chan struct{})
		errs := make(chan error, readers)
		for range readers {
			go func() {
				errs <- func() error {
					for {
						select {
						case <-done:
							return nil
						default:
						}
						it, err := e.Iterate(nil, nil, false)
						if err != nil {
							return err
						}
						count, first, prev := 0, -1, -1
						for it.Next() {
							var v int
							if _, err := fmt.Sscan(string(it.Value()), &v); err != nil {
								return err
							}
							if first < 0 {
								first = v
							}
							if (prev >= 0 && v > prev) || first-v > 1 {
								err := fmt.Errorf("iterator saw %s=%d after %d (first %d): not one snapshot", it.Key(), v, prev, first)
								it.Close()
								return err
							}
							prev = v
							count++
						}
						if err := errors.Join(it.Err(), it.Close()); err != nil {
							return err
						}
						if count != n {
							return fmt.Errorf("iterator saw %d keys, want %d", count, n)
						}
					}
				}()
			}()
		}
		for r := 1; r <= rounds; r++ {
			for i := range n {
				noErr(t, e.Put(key(i), []byte(fmt.Sprint(r))))
			}
			noErr(t, e.Commit(map[string]int64{"r": int64(r)}))
		}
		close(done)
		for range readers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}
