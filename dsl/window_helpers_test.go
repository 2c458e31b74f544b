package dsl_test

import (
	"fmt"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// winRig is a windowed topology in the test driver: records piped into "in" at
// explicit timestamps, a windowed table's updates read from "out", and late records
// from "late" when the topology writes them there (read from the start).
type winRig struct {
	t    *testing.T
	b    *dsl.Builder
	d    *testdriver.Driver
	in   *testdriver.InputTopic[string, string]
	out  *testdriver.OutputTopic[serde.Windowed[string], string]
	late *testdriver.OutputTopic[string, string]
}

// newWinRig builds the topology build makes of the stream "in", grouped by key, and
// writes the windowed table it returns to "out".
func newWinRig(t *testing.T, keys serde.Serde[serde.Windowed[string]], build func(g dsl.GroupedStream[string, string]) dsl.Table[serde.Windowed[string], string]) *winRig {
	t.Helper()
	b := dsl.NewBuilder()
	build(b.Stream("in", strs).GroupByKey()).ToStream().
		MapValues(func(v *string) string {
			if v == nil {
				return "<nil>"
			}
			return *v
		}).
		To("out", dsl.Produced[serde.Windowed[string], string]{Keys: keys, Values: str})
	d := newDriver(t, b, testdriver.Config{})
	return &winRig{t: t, b: b, d: d, in: input(t, d, "in", str, str), out: output(t, d, "out", keys, str)}
}

// pipe sends key=value at ts.
func (r *winRig) pipe(key, value string, ts int64) {
	r.t.Helper()
	if err := r.in.PipeRecord(runtime.Record[string, string]{Key: key, Value: value, Timestamp: ts}); err != nil {
		r.t.Fatal(err)
	}
}

// expect reads every unread update of "out" as "key@start/end=value" and compares.
func (r *winRig) expect(want ...string) {
	r.t.Helper()
	recs, err := r.out.ReadKeyValuesToList()
	if err != nil {
		r.t.Fatal(err)
	}
	var got []string
	for _, kv := range recs {
		got = append(got, fmt.Sprintf("%s@%d/%d=%s", kv.Key.Key, kv.Key.Start, kv.Key.End, kv.Value))
	}
	expectStrings(r.t, "out", got, want)
}

// expectLate reads every unread late record as "key=value".
func (r *winRig) expectLate(want ...string) {
	r.t.Helper()
	if r.late == nil {
		r.late = output(r.t, r.d, "late", str, str)
	}
	recs, err := r.late.ReadKeyValuesToList()
	if err != nil {
		r.t.Fatal(err)
	}
	var got []string
	for _, kv := range recs {
		got = append(got, kv.Key+"="+kv.Value)
	}
	expectStrings(r.t, "late", got, want)
}

func expectStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// dropped returns the late records the aggregation processor name dropped, having
// checked that the tasks' metrics count as many late records as the builder does for
// all its processors.
func (r *winRig) dropped(name string) int64 {
	r.t.Helper()
	var builder, tasks int64
	for _, n := range r.b.DroppedLateRecords() {
		builder += n
	}
	for _, m := range r.d.TaskMetrics() {
		tasks += m.DroppedLate
	}
	if tasks != builder {
		r.t.Errorf("tasks' metrics count %d late records, the builder %d", tasks, builder)
	}
	return r.b.DroppedLateRecords()[name]
}

// asText maps a windowed table's values to text, which the rig writes.
func asText[V any](t dsl.Table[serde.Windowed[string], V]) dsl.Table[serde.Windowed[string], string] {
	return t.MapValues(func(v V) string { return fmt.Sprint(v) })
}
