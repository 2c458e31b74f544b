package dsl_test

import (
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

var sessionKeys = serde.SessionKey(str)

// TestSessionMerge checks Kafka Streams' session rules: a record within the gap of a
// session joins it, one within the gap of two sessions merges them (the table deletes
// both and adds the merged one), and a record inside a session updates it.
func TestSessionMerge(t *testing.T) {
	r := newWinRig(t, sessionKeys, func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		return asText(g.SessionWindowedBy(dsl.SessionWindowsOf(10 * msec).Grace(20 * msec)).Count(dsl.Named("sessions")))
	})
	r.pipe("a", "x", 0)
	r.pipe("a", "x", 20) // 20 - 0 > gap: a session of its own
	r.pipe("b", "x", 15)
	r.expect("a@0/0=1", "a@20/20=1", "b@15/15=1")
	r.pipe("a", "x", 10) // within the gap of both: bridges them
	r.expect("a@0/0=<nil>", "a@20/20=<nil>", "a@0/20=3")
	r.pipe("a", "x", 15) // inside [0,20]: an update, no delete
	r.pipe("a", "x", 29) // extends the session's end
	r.expect("a@0/20=4", "a@0/20=<nil>", "a@0/29=5")
}

// TestSessionLate checks the session grace rule: a record that would only make or
// join sessions ending before stream time - gap - grace is dropped, and one that
// joins a session still open is not, however old it is.
func TestSessionLate(t *testing.T) {
	b := func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		var late dsl.Stream[string, string]
		s := g.SessionWindowedBy(dsl.SessionWindowsOf(10*msec).Grace(5*msec)).WithLateRecords(&late).
			Aggregate(func() string { return "" }, func(_, v, agg string) string { return agg + v }, func(_, a, b string) string { return a + b },
				dsl.Named("sessions"), dsl.Materialized[string, string]{Values: str})
		late.To("late")
		return s
	}
	r := newWinRig(t, sessionKeys, b)
	r.pipe("a", "1", 100)
	r.pipe("a", "2", 110) // joins: [100,110]
	r.pipe("a", "3", 125) // stream time 125; [100,110] ends at 110 = 125 - 10 - 5: still open
	r.pipe("a", "4", 84)  // 84 + 10 reaches 94 only: a new session ending 84 < 110: late
	r.pipe("a", "5", 95)  // within the gap of [100,110]: joins it
	r.expect("a@100/100=1", "a@100/100=<nil>", "a@100/110=12", "a@125/125=3", "a@100/110=<nil>", "a@95/110=125")
	r.expectLate("a=4")
	if n := r.dropped("sessions"); n != 1 {
		t.Errorf("dropped %d, want 1", n)
	}
}

// TestSessionEmitOnWindowClose checks that a session aggregation emitting on window
// close gives each session once, merged, after stream time passes its end + gap +
// grace.
func TestSessionEmitOnWindowClose(t *testing.T) {
	r := newWinRig(t, sessionKeys, func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string] {
		return asText(g.SessionWindowedBy(dsl.SessionWindowsOf(10 * msec)).Count(dsl.EmitOnWindowClose()))
	})
	r.pipe("a", "x", 0)
	r.pipe("a", "x", 8)
	r.pipe("a", "x", 18) // [0,18]
	r.pipe("b", "x", 28) // stream time 28 = 18 + 10: a record at 28 could still join
	r.expect()
	r.pipe("b", "x", 29)
	r.expect("a@0/18=3")
}

// TestSessionCogroup checks a session-windowed cogroup: records of either input
// extend and merge the key's sessions in the shared store, merged by the merger.
// Grace keeps the sessions open: the store's retention follows the stream time of
// every input, while each input's processor observes its own.
func TestSessionCogroup(t *testing.T) {
	b := dsl.NewBuilder()
	clicks := b.Stream("clicks", strs).GroupByKey()
	views := b.Stream("views", strs).GroupByKey()
	clicks.Cogroup(func(_, _ string, agg string) string { return agg + "c" }).
		Cogroup(views, func(_, _ string, agg string) string { return agg + "v" }).
		SessionWindowedBy(dsl.SessionWindowsOf(10*msec).Grace(20*msec)).
		Aggregate(func() string { return "" }, func(_, a, b string) string { return a + "|" + b }, dsl.Materialized[string, string]{Values: str}).
		ToStream().MapValues(func(v *string) string {
		if v == nil {
			return "<nil>"
		}
		return *v
	}).
		To("out", dsl.Produced[serde.Windowed[string], string]{Values: str})
	d := newDriver(t, b, testdriver.Config{})
	c, v := input(t, d, "clicks", str, str), input(t, d, "views", str, str)
	r := &winRig{t: t, b: b, d: d, out: output(t, d, "out", sessionKeys, str)}
	for _, p := range []struct {
		in *testdriver.InputTopic[string, string]
		ts int64
	}{{v, 0}, {c, 16}, {v, 8}} {
		if err := p.in.PipeRecord(runtime.Record[string, string]{Key: "a", Value: "x", Timestamp: p.ts}); err != nil {
			t.Fatal(err)
		}
	}
	r.expect("a@0/0=v", "a@16/16=c", "a@0/0=<nil>", "a@16/16=<nil>", "a@0/16=v|cv")
}
