package dsl_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

const msec = time.Millisecond

// tenMs is the key serde of 10ms time windows.
var tenMs = serde.TimeWindowedKey(str, 10)

// countIn returns the build of a windowed Count by w, named "count".
func countIn(w dsl.Windows, opts ...dsl.TableOption) func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
	return func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		return asText(g.WindowedBy(w).Count(append([]dsl.TableOption{dsl.Named("count")}, opts...)...))
	}
}

// TestTumblingWindowBoundaries checks Kafka Streams' rule that time windows are
// aligned to the epoch and half-open, [start, end): a record at a window's end is in
// the next window.
func TestTumblingWindowBoundaries(t *testing.T) {
	r := newWinRig(t, tenMs, countIn(dsl.TimeWindowsOf(10*msec)))
	r.pipe("a", "x", 0)
	r.pipe("a", "x", 9)
	r.pipe("a", "x", 10)
	r.pipe("b", "x", 23)
	r.expect("a@0/10=1", "a@0/10=2", "a@10/20=1", "b@20/30=1")
}

// TestHoppingWindowsOverlap checks Kafka Streams' TimeWindows.windowsFor: with size
// 10 and advance 5 a record is in the two windows starting at the multiples of 5 in
// (t-10, t], none of them before the epoch.
func TestHoppingWindowsOverlap(t *testing.T) {
	r := newWinRig(t, tenMs, countIn(dsl.TimeWindowsOf(10*msec).AdvanceBy(5*msec)))
	r.pipe("a", "x", 3)  // only [0,10): no window starts before the epoch
	r.pipe("a", "x", 7)  // [0,10) and [5,15)
	r.pipe("a", "x", 12) // [5,15) and [10,20)
	r.expect("a@0/10=1", "a@0/10=2", "a@5/15=1", "a@5/15=2", "a@10/20=1")
}

// TestWindowGraceAndLateRecords checks Kafka Streams' grace rule: an out-of-order
// record is added to its window while stream time is before the window's end + grace,
// and dropped (and counted) from then on. The dropped record also goes to the late
// records stream, which Kafka Streams does not have.
func TestWindowGraceAndLateRecords(t *testing.T) {
	b := func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		var late dsl.Stream[string, string]
		counts := g.WindowedBy(dsl.TimeWindowsOf(10 * msec).Grace(5 * msec)).WithLateRecords(&late).Count(dsl.Named("count"))
		late.To("late")
		return asText(counts)
	}
	r := newWinRig(t, tenMs, b)
	r.pipe("a", "in-order", 12)
	r.pipe("a", "within-grace", 3) // stream time 12 < [0,10) end 10 + grace 5
	r.pipe("a", "closes", 15)      // stream time 15 = 10 + 5: [0,10) closes
	r.pipe("a", "too-late", 4)
	r.expect("a@10/20=1", "a@0/10=1", "a@10/20=2")
	r.expectLate("a=too-late")
	if n := r.dropped("count"); n != 1 {
		t.Errorf("dropped %d late records, want 1", n)
	}
}

// TestWindowNoGrace checks that without grace a window closes at its end: a record
// of [0,10) after stream time reached 10 is late, as with Kafka Streams'
// ofSizeWithNoGrace.
func TestWindowNoGrace(t *testing.T) {
	r := newWinRig(t, tenMs, countIn(dsl.TimeWindowsOf(10*msec)))
	r.pipe("a", "x", 10)
	r.pipe("a", "x", 9)
	r.expect("a@10/20=1")
	if n := r.dropped("count"); n != 1 {
		t.Errorf("dropped %d, want 1", n)
	}
}

// TestHoppingLateForOneWindow checks that a record late for one of its hopping
// windows still counts in the others (Kafka Streams drops it per window), and goes
// once to the late stream.
func TestHoppingLateForOneWindow(t *testing.T) {
	b := func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		var late dsl.Stream[string, string]
		counts := g.WindowedBy(dsl.TimeWindowsOf(10 * msec).AdvanceBy(5 * msec)).WithLateRecords(&late).Count(dsl.Named("count"))
		late.To("late")
		return asText(counts)
	}
	r := newWinRig(t, tenMs, b)
	r.pipe("a", "x", 12)
	r.pipe("a", "y", 7) // [0,10) closed at stream time 12; [5,15) open
	r.expect("a@5/15=1", "a@10/20=1", "a@5/15=2")
	r.expectLate("a=y")
}

// TestWindowedReduceAndAggregate checks windowed Reduce (first value as is) and
// Aggregate (from the initializer), per window.
func TestWindowedReduceAndAggregate(t *testing.T) {
	r := newWinRig(t, tenMs, func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		return g.WindowedBy(dsl.TimeWindowsOf(10 * msec)).Reduce(func(agg, v string) string { return agg + "+" + v })
	})
	r.pipe("a", "1", 1)
	r.pipe("a", "2", 2)
	r.pipe("a", "3", 11)
	r.expect("a@0/10=1", "a@0/10=1+2", "a@10/20=3")

	r = newWinRig(t, tenMs, func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		return g.WindowedBy(dsl.TimeWindowsOf(10*msec)).Aggregate(func() string { return "[" }, func(_, v, agg string) string { return agg + v },
			dsl.Materialized[string, string]{Values: str})
	})
	r.pipe("a", "1", 1)
	r.pipe("a", "2", 12)
	r.expect("a@0/10=[1", "a@10/20=[2")
}

// TestSlidingWindows checks KIP-450's window creation rules: each record makes its
// left window [t-d, t], the first later record within d of it makes its right window
// [t+1, t+1+d], an out-of-order record updates every window holding it and creates
// its own windows from its neighbours' aggregates, and windows include both ends.
func TestSlidingWindows(t *testing.T) {
	r := newWinRig(t, tenMs, countIn(dsl.SlidingWindowsOf(10*msec).Grace(100*msec)))
	r.pipe("a", "x", 10)
	r.expect("a@0/10=1")
	r.pipe("a", "x", 15)
	// 10's right window starts holding 15; 15's left window holds 10 and 15.
	r.expect("a@11/21=1", "a@5/15=2")
	r.pipe("a", "x", 30)
	// 15 is more than d before 30: 30's left window holds it alone, and 15 has no
	// right window (none of its later records is within d).
	r.expect("a@20/30=1")
	r.pipe("a", "x", 12) // out of order, within grace
	// [5,15] and [11,21] hold 12 now; 12's left window [2,12] holds 10 and 12, and its
	// right window [13,23] holds 15.
	r.expect("a@5/15=3", "a@11/21=2", "a@2/12=2", "a@13/23=1")
}

// TestSlidingWindowsLate checks KIP-450's grace rule: a record whose left window
// closed is not added to it, and one whose right window closed too is dropped.
func TestSlidingWindowsLate(t *testing.T) {
	r := newWinRig(t, tenMs, countIn(dsl.SlidingWindowsOf(10*msec)))
	r.pipe("a", "x", 100)
	r.pipe("a", "x", 50) // [40,50] ends before stream time 100: dropped
	r.expect("a@90/100=1")
	if n := r.dropped("count"); n != 1 {
		t.Errorf("dropped %d, want 1", n)
	}
}

// TestEmitOnWindowClose checks KIP-825's emit strategy: only each window's final
// result, once, when stream time reaches its end + grace.
func TestEmitOnWindowClose(t *testing.T) {
	r := newWinRig(t, tenMs, countIn(dsl.TimeWindowsOf(10*msec).Grace(2*msec), dsl.EmitOnWindowClose()))
	r.pipe("b", "x", 1)
	r.pipe("a", "x", 2)
	r.pipe("a", "x", 5)
	r.pipe("a", "x", 11) // stream time 11 < 10 + 2: nothing closed
	r.expect()
	r.pipe("a", "x", 9) // within grace
	r.pipe("c", "x", 12)
	r.expect("a@0/10=3", "b@0/10=1")
	r.pipe("a", "x", 40)
	r.expect("a@10/20=1", "c@10/20=1")
}

// TestWindowedCogroup checks a windowed cogroup: each input folds into the same
// windows of the shared store, as Kafka Streams' TimeWindowedCogroupedKStream.
func TestWindowedCogroup(t *testing.T) {
	b := dsl.NewBuilder()
	clicks := b.Stream("clicks", strs).GroupByKey()
	views := b.Stream("views", strs).GroupByKey()
	clicks.Cogroup(func(_, _ string, agg string) string { return agg + "c" }).
		Cogroup(views, func(_, _ string, agg string) string { return agg + "v" }).
		WindowedBy(dsl.TimeWindowsOf(10*msec)).
		Aggregate(func() string { return "" }, dsl.Materialized[string, string]{Values: str}).
		ToStream().MapValues(func(v *string) string { return *v }).
		To("out", dsl.Produced[serde.Windowed[string], string]{Values: str})
	d := newDriver(t, b, testdriver.Config{})
	c, v := input(t, d, "clicks", str, str), input(t, d, "views", str, str)
	r := &winRig{t: t, b: b, d: d, out: output(t, d, "out", tenMs, str)}
	for _, p := range []struct {
		in *testdriver.InputTopic[string, string]
		ts int64
	}{{v, 1}, {c, 2}, {v, 12}} {
		if err := p.in.PipeRecord(runtime.Record[string, string]{Key: "a", Value: "x", Timestamp: p.ts}); err != nil {
			t.Fatal(err)
		}
	}
	r.expect("a@0/10=v", "a@0/10=vc", "a@10/20=v")
}

// TestWindowBuildErrors checks windows that cannot work and a retention shorter than
// size + grace, which Kafka Streams rejects too.
func TestWindowBuildErrors(t *testing.T) {
	cases := map[string]func(g dsl.GroupedStream[string, string]){
		"zero size": func(g dsl.GroupedStream[string, string]) { g.WindowedBy(dsl.TimeWindowsOf(0)).Count() },
		"advance over size": func(g dsl.GroupedStream[string, string]) {
			g.WindowedBy(dsl.TimeWindowsOf(msec).AdvanceBy(2 * msec)).Count()
		},
		"negative grace": func(g dsl.GroupedStream[string, string]) {
			g.WindowedBy(dsl.SlidingWindowsOf(msec).Grace(-msec)).Count()
		},
		"zero gap": func(g dsl.GroupedStream[string, string]) { g.SessionWindowedBy(dsl.SessionWindowsOf(0)).Count() },
		"short retention": func(g dsl.GroupedStream[string, string]) {
			g.WindowedBy(dsl.TimeWindowsOf(time.Minute).Grace(time.Second)).Count(dsl.Materialized[string, int64]{Retention: time.Minute})
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			build(b.Stream("in", strs).GroupByKey())
			if _, err := b.Build(); !errors.Is(err, dsl.ErrInvalidWindows) {
				t.Fatalf("got %v, want ErrInvalidWindows", err)
			}
		})
	}
}

// TestWindowedNames checks the names a windowed aggregation takes: its store and
// processor as a GroupedStream aggregation's, the late-records node after the Named,
// and the store's changelog.
func TestWindowedNames(t *testing.T) {
	b := dsl.NewBuilder()
	var late dsl.Stream[string, string]
	b.Stream("in", strs).GroupByKey().WindowedBy(dsl.TimeWindowsOf(time.Minute)).WithLateRecords(&late).
		Count(dsl.Named("per-minute"), dsl.Materialized[string, int64]{Name: "minutes"})
	late.To("late")
	b.Stream("in2", strs).GroupByKey().SessionWindowedBy(dsl.SessionWindowsOf(time.Minute)).Count()
	got := mustBuild(t, b).Describe().String()
	for _, want := range []string{"Processor: per-minute (stores: [minutes])", "Processor: per-minute-late-records (stores: [])",
		"KSTREAM-AGGREGATE-STATE-STORE-0000000000"} {
		if !strings.Contains(got, want) {
			t.Errorf("topology lacks %q:\n%s", want, got)
		}
	}
}
