package dsl_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// TestSuppressUntilWindowCloses checks Kafka Streams' final-results suppression: no
// update of a window until stream time reaches its end + grace, then its last one,
// once; through a table Filter of the windowed aggregation too.
func TestSuppressUntilWindowCloses(t *testing.T) {
	r := newWinRig(t, tenMs, func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		counts := g.WindowedBy(dsl.TimeWindowsOf(10 * msec).Grace(5 * msec)).Count()
		return asText(counts.Filter(func(serde.Windowed[string], int64) bool { return true }).Suppress(dsl.UntilWindowCloses(dsl.BufferConfig{})))
	})
	r.pipe("a", "x", 1)
	r.pipe("a", "x", 2)
	r.pipe("b", "x", 3)
	r.pipe("a", "x", 14) // stream time 14 < 10 + 5
	r.expect()
	r.pipe("a", "x", 8) // within grace
	r.pipe("c", "x", 15)
	r.expect("a@0/10=3", "b@0/10=1")
	r.pipe("c", "x", 50)
	r.expect("a@10/20=1", "c@10/20=1")
}

// suppressRig is a non-windowed count of "in" by key, suppressed as s, written to "out".
func suppressRig(t *testing.T, s dsl.Suppressed) (*testdriver.InputTopic[string, string], *testdriver.OutputTopic[string, *int64]) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().Count().Suppress(s).ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	return input(t, d, "in", str, str), output(t, d, "out", str, serde.Nullable(i64))
}

func suppressPipe(t *testing.T, in *testdriver.InputTopic[string, string], key string, ts int64) error {
	t.Helper()
	return in.PipeRecord(runtime.Record[string, string]{Key: key, Value: "x", Timestamp: ts})
}

// TestSuppressUntilTimeLimit checks Kafka Streams' untilTimeLimit: a key's updates are
// held for the limit of stream time from the first one, then its latest is emitted.
func TestSuppressUntilTimeLimit(t *testing.T) {
	in, out := suppressRig(t, dsl.UntilTimeLimit(10*time.Millisecond, dsl.BufferConfig{}))
	for _, r := range []struct {
		key string
		ts  int64
	}{{"a", 0}, {"a", 5}, {"b", 6}, {"a", 10}, {"c", 16}} {
		if err := suppressPipe(t, in, r.key, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	// a's updates at 0, 5, 10: held from 0, emitted at stream time 10 with all three.
	// b's, held from 6, at stream time 16.
	expectNullable(t, out, kv[string, *int64]{Key: "a", Value: ptr[int64](3)}, kv[string, *int64]{Key: "b", Value: ptr[int64](1)})
}

// TestSuppressBufferFull checks the two behaviours of a full buffer, Kafka Streams'
// emitEarlyWhenFull (the oldest update goes out early) and shutDownWhenFull (the task
// fails).
func TestSuppressBufferFull(t *testing.T) {
	hour := time.Hour
	t.Run("emit early", func(t *testing.T) {
		in, out := suppressRig(t, dsl.UntilTimeLimit(hour, dsl.BufferConfig{MaxRecords: 1, WhenFull: dsl.EmitEarlyWhenFull}))
		for i, k := range []string{"a", "a", "b"} {
			if err := suppressPipe(t, in, k, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		expectNullable(t, out, kv[string, *int64]{Key: "a", Value: ptr[int64](2)})
	})
	t.Run("emit early by bytes", func(t *testing.T) {
		// Each entry weighs 34 bytes: its key (1), 24 bytes of times and order, and the
		// change: a flags byte and the new count (8). Two fit in 70 bytes, three do not.
		in, out := suppressRig(t, dsl.UntilTimeLimit(hour, dsl.BufferConfig{MaxBytes: 70, WhenFull: dsl.EmitEarlyWhenFull}))
		for i, k := range []string{"a", "b", "c"} {
			if err := suppressPipe(t, in, k, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		expectNullable(t, out, kv[string, *int64]{Key: "a", Value: ptr[int64](1)})
	})
	t.Run("shut down", func(t *testing.T) {
		in, out := suppressRig(t, dsl.UntilTimeLimit(hour, dsl.BufferConfig{MaxRecords: 1}))
		if err := suppressPipe(t, in, "a", 0); err != nil {
			t.Fatal(err)
		}
		if err := suppressPipe(t, in, "a", 1); err != nil {
			t.Fatal(err) // the same key: still one record
		}
		if err := suppressPipe(t, in, "b", 2); !errors.Is(err, dsl.ErrBufferFull) {
			t.Fatalf("got %v, want ErrBufferFull", err)
		}
		expectNullable[string, int64](t, out)
	})
}

// TestSuppressBuildErrors checks the suppressions that cannot work: final results of
// a table without windows, and final results from a buffer that may emit early.
func TestSuppressBuildErrors(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().Count().Suppress(dsl.UntilWindowCloses(dsl.BufferConfig{}))
	if _, err := b.Build(); !errors.Is(err, dsl.ErrInvalidOption) {
		t.Errorf("UntilWindowCloses without windows: %v", err)
	}
	b = dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().WindowedBy(dsl.TimeWindowsOf(time.Second)).Count().
		Suppress(dsl.UntilWindowCloses(dsl.BufferConfig{MaxRecords: 5, WhenFull: dsl.EmitEarlyWhenFull}))
	if _, err := b.Build(); !errors.Is(err, dsl.ErrInvalidOption) {
		t.Errorf("UntilWindowCloses emitting early: %v", err)
	}
}

// TestSuppressBufferLogged checks that the buffer is logged, as Kafka Streams logs
// its suppression buffers: each held-back update is written to the changelog of
// "<Named>-store", and a tombstone once it is emitted, so a restarted task restores
// what it still held.
func TestSuppressBufferLogged(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().Count().Suppress(dsl.UntilTimeLimit(10*time.Millisecond, dsl.BufferConfig{}), dsl.Named("limit")).ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	in := input(t, d, "in", str, str)
	changelog := output(t, d, runtime.ChangelogTopic("test-app", "limit-store"), str, serde.Bytes())
	for _, r := range []struct {
		key string
		ts  int64
	}{{"a", 0}, {"b", 5}, {"c", 10}} {
		if err := suppressPipe(t, in, r.key, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := changelog.ReadKeyValuesToList()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s:%t", r.Key, r.Value != nil))
	}
	// a held, b held, c held, then a emitted at stream time 10.
	expectStrings(t, "changelog", got, []string{"a:true", "b:true", "c:true", "a:false"})
}
