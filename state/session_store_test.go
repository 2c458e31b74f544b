package state

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

func testSession(key string, start, end int64) serde.Windowed[string] {
	return serde.Windowed[string]{Key: key, Start: start, End: end}
}

func sessionName(w serde.Windowed[string]) string {
	return fmt.Sprintf("%s[%d,%d]", w.Key, w.Start, w.End)
}

// sessionsOf returns a function that drains a session iterator into names, checking
// each value is its session's name.
func sessionsOf(t *testing.T) func(KeyValueIterator[serde.Windowed[string], string], error) []string {
	return func(it KeyValueIterator[serde.Windowed[string], string], err error) []string {
		t.Helper()
		kvs, err := collectKV(it, err)
		mustOK(t, err)
		out := []string{}
		for _, kv := range kvs {
			if kv.Value != sessionName(kv.Key) {
				t.Errorf("value of %s = %q", sessionName(kv.Key), kv.Value)
			}
			out = append(out, sessionName(kv.Key))
		}
		return out
	}
}

func newTestSessionStore(t *testing.T, e Engine, cfg SessionConfig, opts ...Option) *SessionStore[string, string] {
	t.Helper()
	s, err := NewSessionStore("sessions", e, serde.String(), serde.String(), cfg, opts...)
	mustOK(t, err)
	return s
}

func TestSessionStoreFindSessions(t *testing.T) {
	for _, tc := range []struct {
		key                      string
		earliestEnd, latestStart int64
		want                     []string
	}{
		{"a", 6, 9, []string{}},
		{"a", 5, 10, []string{"a[0,5]", "a[10,20]"}},
		{"a", 20, 30, []string{"a[10,20]", "a[30,30]"}}, // merge candidates of a record at 25, gap 5
		{"a", 21, 29, []string{}},
		{"a", 25, 25, []string{}},
		{"a", 15, 15, []string{"a[10,20]"}}, // a record inside a session
		{"a", 0, 1000, []string{"a[0,5]", "a[10,20]", "a[30,30]", "a[100,150]"}},
		{"a", math.MinInt64, math.MaxInt64, []string{"a[0,5]", "a[10,20]", "a[30,30]", "a[100,150]"}},
		{"a", 150, 150, []string{"a[100,150]"}},
		{"a", 151, 200, []string{}},
		{"a", 40, 40, []string{}},
		{"ab", 40, 40, []string{"ab[0,40]"}},
		{"ab", 41, 1000, []string{}},
		{"a\x00", 0, 100, []string{"a\x00[12,12]"}},
		{"b", math.MinInt64, math.MaxInt64, []string{}},
	} {
		t.Run(fmt.Sprintf("%q/%d/%d", tc.key, tc.earliestEnd, tc.latestStart), func(t *testing.T) {
			forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
				s := newTestSessionStore(t, openStoreEngine(t, p, "sessions"), SessionConfig{Retention: 1000, SegmentInterval: 50}, opts...)
				defer s.Close()
				for i, w := range []serde.Windowed[string]{testSession("a", 100, 150), testSession("a", 0, 5), testSession("ab", 0, 40), testSession("a", 10, 20), testSession("a\x00", 12, 12), testSession("a", 30, 30)} {
					mustOK(t, s.Put(w, sessionName(w)))
					if i == 2 {
						mustOK(t, s.Flush())
					}
				}
				if got := sessionsOf(t)(s.FindSessions(tc.key, tc.earliestEnd, tc.latestStart)); !slices.Equal(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			})
		})
	}
}

func TestSessionStoreFetchAndRemove(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		s := newTestSessionStore(t, openStoreEngine(t, p, "sessions"), SessionConfig{Retention: 1000}, opts...)
		defer s.Close()
		mustOK(t, s.Put(testSession("a", 10, 20), "a[10,20]"))
		mustOK(t, s.Put(testSession("a", 30, 40), "a[30,40]"))
		if v, found, err := s.FetchSession("a", 10, 20); err != nil || !found || v != "a[10,20]" {
			t.Fatalf("FetchSession(a, 10, 20) = %q, %v, %v", v, found, err)
		}
		if _, found, err := s.FetchSession("a", 10, 21); err != nil || found {
			t.Fatalf("FetchSession(a, 10, 21) found=%v err=%v", found, err)
		}
		// Merging: the two sessions become one.
		mustOK(t, s.Remove(testSession("a", 10, 20)))
		mustOK(t, s.Remove(testSession("a", 30, 40)))
		mustOK(t, s.Put(testSession("a", 10, 40), "a[10,40]"))
		mustOK(t, s.Remove(testSession("a", 1, 2)))
		if got := sessionsOf(t)(s.FindSessions("a", 0, 100)); !slices.Equal(got, []string{"a[10,40]"}) {
			t.Fatalf("after merge: %q", got)
		}
		if err := s.Put(testSession("a", 5, 4), "bad"); err == nil {
			t.Fatal("Put accepted a session ending before its start")
		}
	})
}

func TestSessionStoreRetention(t *testing.T) {
	forEachStack(t, func(t *testing.T, p Provider, opts []Option) {
		cfg := SessionConfig{Retention: 100, SegmentInterval: 50}
		e := openStoreEngine(t, p, "sessions")
		s := newTestSessionStore(t, e, cfg, opts...)
		mustOK(t, s.Put(testSession("a", 0, 10), "a[0,10]"))
		mustOK(t, s.Put(testSession("a", 20, 60), "a[20,60]"))
		mustOK(t, s.Put(testSession("a", 90, 110), "a[90,110]"))
		mustOK(t, s.Flush())
		if got := segmentIDs(t, e); !slices.Equal(got, []int64{0, 1, 2}) {
			t.Fatalf("segments by end: %v", got)
		}
		// Stream time 200: live from end 101, so segments 0 and 1 (ends 0..99) go.
		mustOK(t, s.Put(testSession("b", 200, 200), "b[200,200]"))
		mustOK(t, s.Flush())
		if got := segmentIDs(t, e); !slices.Equal(got, []int64{2, 4}) {
			t.Fatalf("segments at stream time 200: %v, want [2 4]", got)
		}
		if err := s.Put(testSession("a", 50, 100), "late"); !errors.Is(err, ErrExpired) {
			t.Fatalf("Put of a session ending at 100 with stream time 200: %v; want ErrExpired", err)
		}
		if got := sessionsOf(t)(s.FindSessions("a", math.MinInt64, math.MaxInt64)); !slices.Equal(got, []string{"a[90,110]"}) {
			t.Fatalf("live sessions of a: %q", got)
		}
		if _, found, err := s.FetchSession("a", 20, 60); err != nil || found {
			t.Fatalf("FetchSession of an expired session: found=%v err=%v", found, err)
		}
		mustOK(t, s.Commit(nil))
		mustOK(t, s.Close())
		s = newTestSessionStore(t, openStoreEngine(t, p, "sessions"), cfg, opts...)
		defer s.Close()
		if st := s.ObservedStreamTime(); st != 200 {
			t.Fatalf("ObservedStreamTime after reopen = %d, want 200", st)
		}
	})
}

func TestSessionStoreCorruptBytes(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		e := openStoreEngine(t, p, "sessions")
		s, err := NewSessionStore("sessions", e, serde.String(), serde.Bool(), SessionConfig{Retention: 1000})
		mustOK(t, err)
		defer s.Close()
		mustOK(t, s.Put(testSession("a", 1, 2), true))
		k := concat(segmentPrefix(0), concat(serde.WindowedKeyPrefix([]byte("a")), concat(appendOrdered(nil, 3), appendOrdered(nil, 4))))
		mustOK(t, e.Put(k, []byte{7, 7}))
		if _, _, err := s.FetchSession("a", 3, 4); !errors.Is(err, ErrCorrupt) || !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("FetchSession of a bad value: %v", err)
		}
		it, err := s.FindSessions("a", 0, 10)
		mustOK(t, err)
		defer it.Close()
		if !it.Next() || it.Value() != true {
			t.Fatal("first session missing")
		}
		if it.Next() || !errors.Is(it.Err(), ErrCorrupt) {
			t.Fatalf("FindSessions over a bad value: %v", it.Err())
		}
	})
}
