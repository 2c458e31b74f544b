package dsl_test

import (
	"strings"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// TestGroupedStreamAggregations checks count, reduce and aggregate of a KGroupedStream:
// each input record updates its key's aggregate and emits the new value.
func TestGroupedStreamAggregations(t *testing.T) {
	in := []kv[string, string]{{Key: "a", Value: "1"}, {Key: "b", Value: "22"}, {Key: "a", Value: "333"}}
	cases := []struct {
		rule  string
		build func(g dsl.GroupedStream[string, string])
		want  []kv[string, string]
	}{
		{"count counts the records of each key", func(g dsl.GroupedStream[string, string]) {
			g.Count().ToStream().MapValues(func(n *int64) string { return strings.Repeat("#", int(*n)) }).To("out", asString)
		}, []kv[string, string]{{Key: "a", Value: "#"}, {Key: "b", Value: "#"}, {Key: "a", Value: "##"}}},
		{"reduce takes the first value as is and combines later ones", func(g dsl.GroupedStream[string, string]) {
			g.Reduce(func(agg, v string) string { return agg + "+" + v }).ToStream().MapValues(func(v *string) string { return *v }).To("out", asString)
		}, []kv[string, string]{{Key: "a", Value: "1"}, {Key: "b", Value: "22"}, {Key: "a", Value: "1+333"}}},
		{"aggregate folds records into the initializer's value", func(g dsl.GroupedStream[string, string]) {
			g.Aggregate(func() string { return "[" }, func(_, v, agg string) string { return agg + v },
				dsl.Materialized[string, string]{Values: str}).ToStream().MapValues(func(v *string) string { return *v }).To("out", asString)
		}, []kv[string, string]{{Key: "a", Value: "[1"}, {Key: "b", Value: "[22"}, {Key: "a", Value: "[1333"}}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(b.Stream("in", strs).GroupByKey())
			d := newDriver(t, b, testdriver.Config{})
			out := output(t, d, "out", str, str)
			pipe(t, input(t, d, "in", str, str), in...)
			expect(t, out, c.want...)
		})
	}
}

// asString writes string values: a serde the DSL cannot know after MapValues to string
// from another type.
var asString = dsl.Produced[string, string]{Values: str}

// TestAggregateTimestamp checks Kafka Streams' rule for the timestamp of an aggregate:
// the larger of the record's and the previous aggregate's.
func TestAggregateTimestamp(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().Count().ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(i64))
	in := input(t, d, "in", str, str)
	for _, ts := range []int64{100, 50, 200} {
		if err := in.PipeRecord(runtime.Record[string, string]{Key: "k", Value: "v", Timestamp: ts}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := out.ReadRecordsToList()
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range recs {
		got = append(got, r.Timestamp)
	}
	if len(got) != 3 || got[0] != 100 || got[1] != 100 || got[2] != 200 {
		t.Fatalf("timestamps %v, want [100 100 200]", got)
	}
}

// TestGroupByRepartitions checks that grouping after a key change goes through a
// repartition topic, so that records of one new key, read from different input
// partitions, meet in one task: the counts are global, not per input partition.
func TestGroupByRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	counts := b.Stream("lines", strs).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, w string) string { return w }).
		Count(dsl.Materialized[string, int64]{Name: "counts"})
	counts.ToStream().To("counts")
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"lines": 4}})
	rep := output(t, d, "test-app-counts-repartition", str, str)
	out := output(t, d, "counts", str, serde.Nullable(i64))
	in := input(t, d, "lines", str, str)
	// Keys chosen to spread the lines over partitions; the words repeat across them.
	pipe(t, in, kv[string, string]{Key: "l1", Value: "go kafka"}, kv[string, string]{Key: "l2", Value: "go"},
		kv[string, string]{Key: "l3", Value: "kafka go"}, kv[string, string]{Key: "l4", Value: "go"})
	got, err := testdriver.ReadKeyValuesToMap(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || *got["go"] != 4 || *got["kafka"] != 2 {
		t.Fatalf("counts %v", got)
	}
	if n := rep.QueueSize(); n != 6 {
		t.Errorf("repartition topic holds %d records, want 6 (one per word)", n)
	}
	view, err := d.ReadKeyValueStore[string, serde.ValueAndTimestamp[int64]]("counts")
	if err != nil {
		t.Fatal(err)
	}
	if v, found, err := view.Get("go"); err != nil || !found || v.Value != 4 {
		t.Fatalf("store counts: go = %v %v %v", v, found, err)
	}
}

// TestGroupByKeyNoRepartition checks that groupByKey on a stream whose keys did not
// change reads no repartition topic, as in Kafka Streams.
func TestGroupByKeyNoRepartition(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).Filter(func(string, string) bool { return true }).MapValues(strings.ToUpper).GroupByKey().Count()
	top := mustBuild(t, b)
	if r := top.RepartitionTopics("app"); len(r) != 0 {
		t.Fatalf("repartition topics %v", r)
	}
	subs, err := top.Subtopologies("app")
	if err != nil || len(subs) != 1 {
		t.Fatalf("sub-topologies %v %v", subs, err)
	}
}

// TestCogroup checks CogroupedKStream: several grouped streams of different value
// types fold into one aggregate per key, in one store.
func TestCogroup(t *testing.T) {
	b := dsl.NewBuilder()
	clicks := b.Stream("clicks", strs).GroupByKey()
	buys := b.Stream("buys", dsl.Consumed[string, int64]{Keys: str, Values: i64}).
		SelectKey(func(k string, _ int64) string { return strings.ToLower(k) }).
		GroupByKey(dsl.Grouped[string, int64]{Keys: str, Values: i64})
	clicks.Cogroup(func(_, _ string, agg string) string { return agg + "c" }).
		Cogroup(buys, func(_ string, n int64, agg string) string { return agg + strings.Repeat("b", int(n)) }).
		Aggregate(func() string { return "" }, dsl.Materialized[string, string]{Name: "activity", Values: str}).
		ToStream().To("out")
	top := mustBuild(t, b)
	if r := top.RepartitionTopics("app"); len(r) != 1 || r[0].Topic != "app-activity-1-repartition" {
		t.Fatalf("repartition topics %v", r)
	}
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(str))
	pipe(t, input(t, d, "clicks", str, str), kv[string, string]{Key: "u", Value: "x"})
	pipe(t, input(t, d, "buys", str, i64), kv[string, int64]{Key: "U", Value: 2})
	pipe(t, input(t, d, "clicks", str, str), kv[string, string]{Key: "u", Value: "y"})
	expectNullable(t, out, kv[string, *string]{Key: "u", Value: ptr("c")}, kv[string, *string]{Key: "u", Value: ptr("cbb")},
		kv[string, *string]{Key: "u", Value: ptr("cbbc")})
}

// TestCachingMergesUpdates checks Kafka Streams' record cache: with caching on, a
// key's updates are merged until the cache flushes. The driver commits, and so
// flushes, after every piped record, so a batch shows the merge.
func TestCachingMergesUpdates(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().Count(dsl.Materialized[string, int64]{Caching: true}).ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(i64))
	in := input(t, d, "in", str, str)
	if err := d.Batch(func() error {
		return in.PipeKeyValues(kv[string, string]{Key: "a", Value: "1"}, kv[string, string]{Key: "a", Value: "2"}, kv[string, string]{Key: "b", Value: "3"})
	}); err != nil {
		t.Fatal(err)
	}
	pipe(t, in, kv[string, string]{Key: "a", Value: "4"})
	got, err := out.ReadKeyValuesToList()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, r := range got {
		s = append(s, r.Key+"="+string(rune('0'+*r.Value)))
	}
	if strings.Join(s, ",") != "a=2,b=1,a=3" {
		t.Fatalf("got %v, want a=2,b=1,a=3", s)
	}
}

// TestStreamToTable checks KStream#toTable: each record is its key's latest value.
func TestStreamToTable(t *testing.T) {
	b := dsl.NewBuilder()
	tbl := b.Stream("in", strs).ToTable(dsl.Materialized[string, string]{Name: "latest"})
	tbl.ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(str))
	pipe(t, input(t, d, "in", str, str), kv[string, string]{Key: "a", Value: "1"}, kv[string, string]{Key: "a", Value: "2"})
	expectNullable(t, out, kv[string, *string]{Key: "a", Value: ptr("1")}, kv[string, *string]{Key: "a", Value: ptr("2")})
	st, err := d.GetStore[*state.TimestampedKeyValueStore[string, string]]("latest", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := st.Get("a"); err != nil || v.Value != "2" {
		t.Fatalf("store latest: a = %v %v", v, err)
	}
}

// TestRepartitionMarks checks which operators mark a stream for repartitioning: Kafka
// Streams repartitions before a grouping or toTable after map, flatMap, selectKey and
// process (and after a merge with such a stream), not after value-only operators.
func TestRepartitionMarks(t *testing.T) {
	id := func(k, v string) (string, string) { return k, v }
	cases := []struct {
		name  string
		build func(s dsl.Stream[string, string]) dsl.Stream[string, string]
		want  int
	}{
		{"filter, mapValues, flatMapValues, peek", func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return s.Filter(func(string, string) bool { return true }).MapValues(strings.ToUpper).FlatMapValues(strings.Fields).Peek(func(string, string) {})
		}, 0},
		{"map", func(s dsl.Stream[string, string]) dsl.Stream[string, string] { return s.Map(id) }, 1},
		{"flatMap", func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return s.FlatMap(func(k, v string) []dsl.KeyValue[string, string] { return []dsl.KeyValue[string, string]{dsl.KV(k, v)} })
		}, 1},
		{"process", func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return s.Process(runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
				return ctx.Forward(r)
			}).Supplier())
		}, 1},
		{"merge with a rekeyed stream", func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return s.Merge(s.Map(id))
		}, 1},
		{"repartition clears the mark", func(s dsl.Stream[string, string]) dsl.Stream[string, string] {
			return s.Map(id).Repartition()
		}, 1},
	}
	for _, c := range cases {
		for _, op := range []string{"groupByKey", "toTable"} {
			t.Run(c.name+" then "+op, func(t *testing.T) {
				b := dsl.NewBuilder()
				s := c.build(b.Stream("in", strs))
				if op == "toTable" {
					s.ToTable()
				} else {
					s.GroupByKey().Count()
				}
				if got := len(mustBuild(t, b).RepartitionTopics("app")); got != c.want {
					t.Fatalf("%d repartition topics, want %d", got, c.want)
				}
			})
		}
	}
}

// TestMaterializedOptions checks that Materialized turns the changelog off and names
// stores, as Kafka Streams' withLoggingDisabled and as(name).
func TestMaterializedOptions(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().Count(dsl.Materialized[string, int64]{Name: "quiet", LoggingDisabled: true, InMemory: true})
	b.Table("t", strs, dsl.Materialized[string, string]{Name: "loud"})
	got := stateNames(t, mustBuild(t, b))
	want := []string{"app-loud-changelog", "loud", "quiet"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
