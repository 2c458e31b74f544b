package state

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

// recordingSink keeps what it is sent, as is: a store that reused the slices after
// Send would show here as changed records.
type recordingSink struct {
	mu   sync.Mutex
	recs []sentRecord
	err  error
}

// sentRecord is one changelog record; a nil value is a tombstone, printed as <nil>.
type sentRecord struct{ key, value []byte }

func (s sentRecord) String() string {
	if s.value == nil {
		return fmt.Sprintf("%q=<nil>", s.key)
	}
	return fmt.Sprintf("%q=%q", s.key, s.value)
}

func (r *recordingSink) Send(key, value []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.recs = append(r.recs, sentRecord{key, value})
	return nil
}

// take returns the records so far, printed, and forgets them.
func (r *recordingSink) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{}
	for _, s := range r.recs {
		out = append(out, s.String())
	}
	r.recs = nil
	return out
}

func TestChangelogRecordsEveryWrite(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		sink := &recordingSink{}
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.String(), WithLogging(sink))
		defer s.Close()
		mustOK(t, s.Put("a", "1"))
		mustOK(t, s.Put("a", "2"))
		mustOK(t, s.Put("e", ""))
		mustOK(t, s.Delete("a"))
		mustOK(t, s.Delete("missing"))
		mustOK(t, s.PutAll([]KeyValue[string, string]{{"b", "3"}, {"c", "4"}}))
		if _, _, err := s.PutIfAbsent("b", "5"); err != nil {
			t.Fatal(err)
		}
		want := []string{`"a"="1"`, `"a"="2"`, `"e"=""`, `"a"=<nil>`, `"missing"=<nil>`, `"b"="3"`, `"c"="4"`}
		if got := sink.take(); !slices.Equal(got, want) {
			t.Fatalf("changelog %v\nwant      %v", got, want)
		}
	})
}

func TestChangelogEmptyValueIsNotTombstone(t *testing.T) {
	sink := &recordingSink{}
	p := NewMemoryProvider()
	defer p.Close()
	l := newLoggingEngine(openStoreEngine(t, p, "kv"), sink)
	mustOK(t, l.Put([]byte("k"), nil))
	mustOK(t, l.Put([]byte("k"), []byte{}))
	if len(sink.recs) != 2 || sink.recs[0].value == nil || sink.recs[1].value == nil {
		t.Fatalf("records %v: empty values must be non-nil", sink.recs)
	}
}

func TestChangelogSinkErrorFailsWrite(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		boom := errors.New("producer closed")
		sink := &recordingSink{err: boom}
		s := NewKeyValueStore("kv", openStoreEngine(t, p, "kv"), serde.String(), serde.String(), WithLogging(sink))
		defer s.Close()
		if err := s.Put("a", "1"); !errors.Is(err, boom) {
			t.Fatalf("Put with failing sink: %v; want %v", err, boom)
		}
		if err := s.Delete("a"); !errors.Is(err, boom) {
			t.Fatalf("Delete with failing sink: %v; want %v", err, boom)
		}
	})
}

func TestChangelogOfWindowStore(t *testing.T) {
	forEachStoreEngine(t, func(t *testing.T, p Provider) {
		sink := &recordingSink{}
		e := openStoreEngine(t, p, "win")
		s, err := NewWindowStore("win", e, serde.String(), serde.String(), WindowConfig{WindowSize: 10, Retention: 100, SegmentInterval: 50}, WithLogging(ChangelogSinkFunc(sink.Send)))
		mustOK(t, err)
		defer s.Close()
		mustOK(t, s.Put("a", "x", 0))
		mustOK(t, s.Put("a", "y", 200)) // drops segment 0, which is not logged
		mustOK(t, s.Delete("a", 200))
		keys := engineKeys(t, e)
		if len(keys) != 0 {
			t.Fatalf("engine keys left: %x", keys)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if len(sink.recs) != 3 {
			t.Fatalf("changelog %v, want put, put, delete", sink.recs)
		}
		// The changelog key is the engine key: segment, then the windowed key.
		for i, want := range []struct {
			start int64
			value string
			tomb  bool
		}{{0, "x", false}, {200, "y", false}, {200, "", true}} {
			r := sink.recs[i]
			rest, err := stripSegment(r.key)
			mustOK(t, err)
			key, start, err := serde.SplitWindowedKey(rest)
			mustOK(t, err)
			if string(key) != "a" || start != want.start || (r.value == nil) != want.tomb || (!want.tomb && string(r.value) != want.value) {
				t.Errorf("record %d = %v, want a@%d %q (tombstone %v)", i, r, want.start, want.value, want.tomb)
			}
		}
	})
}
