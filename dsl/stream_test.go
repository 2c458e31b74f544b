package dsl_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// TestStatelessOperators runs each stateless KStream operator on the same input and
// checks its output record by record.
func TestStatelessOperators(t *testing.T) {
	in := []kv[string, string]{{Key: "a", Value: "x y"}, {Key: "b", Value: ""}, {Key: "c", Value: "z"}}
	cases := []struct {
		rule  string
		build func(s dsl.Stream[string, string])
		want  []kv[string, string]
	}{
		{"filter keeps the records satisfying the predicate", func(s dsl.Stream[string, string]) {
			s.Filter(func(_, v string) bool { return v != "" }).To("out")
		}, []kv[string, string]{{Key: "a", Value: "x y"}, {Key: "c", Value: "z"}}},
		{"filterNot drops the records satisfying the predicate", func(s dsl.Stream[string, string]) {
			s.FilterNot(func(_, v string) bool { return v != "" }).To("out")
		}, []kv[string, string]{{Key: "b", Value: ""}}},
		{"map replaces key and value", func(s dsl.Stream[string, string]) {
			s.Map(func(k, v string) (string, string) { return v, k }).To("out")
		}, []kv[string, string]{{Key: "x y", Value: "a"}, {Key: "", Value: "b"}, {Key: "z", Value: "c"}}},
		{"mapValues replaces the value and keeps the key", func(s dsl.Stream[string, string]) {
			s.MapValues(strings.ToUpper).To("out")
		}, []kv[string, string]{{Key: "a", Value: "X Y"}, {Key: "b", Value: ""}, {Key: "c", Value: "Z"}}},
		{"flatMap emits zero or more records per input", func(s dsl.Stream[string, string]) {
			s.FlatMap(func(k, v string) []dsl.KeyValue[string, string] {
				var out []dsl.KeyValue[string, string]
				for _, w := range strings.Fields(v) {
					out = append(out, dsl.KV(w, k))
				}
				return out
			}).To("out")
		}, []kv[string, string]{{Key: "x", Value: "a"}, {Key: "y", Value: "a"}, {Key: "z", Value: "c"}}},
		{"flatMapValues emits one record per value, with the input's key", func(s dsl.Stream[string, string]) {
			s.FlatMapValues(strings.Fields).To("out")
		}, []kv[string, string]{{Key: "a", Value: "x"}, {Key: "a", Value: "y"}, {Key: "c", Value: "z"}}},
		{"selectKey replaces the key and keeps the value", func(s dsl.Stream[string, string]) {
			s.SelectKey(func(k, v string) string { return k + v }).To("out")
		}, []kv[string, string]{{Key: "ax y", Value: "x y"}, {Key: "b", Value: ""}, {Key: "cz", Value: "z"}}},
		{"peek passes records on unchanged", func(s dsl.Stream[string, string]) {
			s.Peek(func(string, string) {}).To("out")
		}, in},
		{"merge interleaves both inputs in processing order", func(s dsl.Stream[string, string]) {
			s.Filter(func(k, _ string) bool { return k == "a" }).
				Merge(s.Filter(func(k, _ string) bool { return k != "a" }).MapValues(strings.ToUpper)).
				To("out")
		}, []kv[string, string]{{Key: "a", Value: "x y"}, {Key: "b", Value: ""}, {Key: "c", Value: "Z"}}},
		{"repartition passes records through an internal topic unchanged", func(s dsl.Stream[string, string]) {
			s.Repartition().To("out")
		}, in},
		{"processValues forwards with the input key whatever key it sets", func(s dsl.Stream[string, string]) {
			s.ProcessValues(runtime.ProcessorFunc[string, string, string, int64](func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, string]) error {
				return ctx.Forward(runtime.Record[string, int64]{Key: "ignored", Value: int64(len(r.Value))})
			}).Supplier()).MapValues(func(n int64) string { return strings.Repeat("#", int(n)) }).
				To("out", dsl.Produced[string, string]{Values: str}) // the string serde was lost at int64
		}, []kv[string, string]{{Key: "a", Value: "###"}, {Key: "b", Value: ""}, {Key: "c", Value: "#"}}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(b.Stream("in", strs))
			d := newDriver(t, b, testdriver.Config{})
			out := output(t, d, "out", str, str)
			pipe(t, input(t, d, "in", str, str), in...)
			expect(t, out, c.want...)
		})
	}
}

// TestSplit checks KStream#split: each record goes to the first branch whose predicate
// it satisfies, else to the default branch; map keys are prefix + branch name.
func TestSplit(t *testing.T) {
	for _, prefix := range []dsl.Named{"", "by-size-"} {
		t.Run("prefix "+string(prefix), func(t *testing.T) {
			b := dsl.NewBuilder()
			var opts []dsl.Named
			if prefix != "" {
				opts = append(opts, prefix)
			}
			branches := b.Stream("in", strs).Split(opts...).
				Branch("empty", func(_, v string) bool { return v == "" }).
				Branch("short", func(_, v string) bool { return len(v) < 3 }).
				Branch("also-short", func(_, v string) bool { return len(v) < 2 }).
				DefaultBranch("long")
			if len(branches) != 4 {
				t.Fatalf("branches %v", branches)
			}
			for name, s := range branches {
				s.To(strings.TrimPrefix(name, string(prefix)))
			}
			d := newDriver(t, b, testdriver.Config{})
			empty, short := output(t, d, "empty", str, str), output(t, d, "short", str, str)
			alsoShort, long := output(t, d, "also-short", str, str), output(t, d, "long", str, str)
			pipe(t, input(t, d, "in", str, str),
				kv[string, string]{Key: "1", Value: ""}, kv[string, string]{Key: "2", Value: "a"},
				kv[string, string]{Key: "3", Value: "abcd"}, kv[string, string]{Key: "4", Value: "ab"})
			expect(t, empty, kv[string, string]{Key: "1", Value: ""})
			expect(t, short, kv[string, string]{Key: "2", Value: "a"}, kv[string, string]{Key: "4", Value: "ab"})
			expect(t, alsoShort) // "a" went to the first branch that matched
			expect(t, long, kv[string, string]{Key: "3", Value: "abcd"})
		})
	}
	t.Run("no default branch drops the unmatched", func(t *testing.T) {
		b := dsl.NewBuilder()
		br := b.Stream("in", strs).Split().Branch("a", func(k, _ string) bool { return k == "a" }).NoDefaultBranch()
		br["a"].To("a")
		d := newDriver(t, b, testdriver.Config{})
		a := output(t, d, "a", str, str)
		pipe(t, input(t, d, "in", str, str), kv[string, string]{Key: "a", Value: "1"}, kv[string, string]{Key: "b", Value: "2"})
		expect(t, a, kv[string, string]{Key: "a", Value: "1"})
	})
}

// TestTerminalOperators checks foreach, print (Kafka's "[label]: key, value" format)
// and to with a topic chosen per record (TopicNameExtractor).
func TestTerminalOperators(t *testing.T) {
	b := dsl.NewBuilder()
	s := b.Stream("in", strs)
	var seen []string
	s.Foreach(func(k, v string) { seen = append(seen, k+"="+v) })
	var printed bytes.Buffer
	s.Print(&printed, "in")
	s.ToFunc(func(r runtime.Record[string, string]) string { return "topic-" + r.Key })
	d := newDriver(t, b, testdriver.Config{})
	ta, tb := output(t, d, "topic-a", str, str), output(t, d, "topic-b", str, str)
	pipe(t, input(t, d, "in", str, str), kv[string, string]{Key: "a", Value: "1"}, kv[string, string]{Key: "b", Value: "2"})
	if strings.Join(seen, ",") != "a=1,b=2" {
		t.Errorf("foreach saw %q", seen)
	}
	if printed.String() != "[in]: a, 1\n[in]: b, 2\n" {
		t.Errorf("print wrote %q", printed.String())
	}
	expect(t, ta, kv[string, string]{Key: "a", Value: "1"})
	expect(t, tb, kv[string, string]{Key: "b", Value: "2"})
}

// TestRecordContextKept checks that stateless operators keep each record's timestamp
// and headers, as Kafka Streams forwards the record context.
func TestRecordContextKept(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).MapValues(strings.ToUpper).FlatMapValues(strings.Fields).SelectKey(func(_, v string) string { return v }).To("out")
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, str)
	h := []runtime.Header{{Key: "trace", Value: []byte("t1")}}
	if err := input(t, d, "in", str, str).PipeRecord(runtime.Record[string, string]{Key: "k", Value: "a b", Timestamp: 1234, Headers: h}); err != nil {
		t.Fatal(err)
	}
	recs, err := out.ReadRecordsToList()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("records %v", recs)
	}
	for i, r := range recs {
		if r.Timestamp != 1234 || len(r.Headers) != 1 || r.Headers[0].Key != "trace" || string(r.Headers[0].Value) != "t1" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
}

// TestProducedPartitioner checks that Produced.Partitioner picks the output partition.
func TestProducedPartitioner(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).To("out", dsl.Produced[string, string]{
		Partitioner: func(_ string, key, _ string, n int32) (int32, bool) { return int32(len(key)) % n, true },
	})
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"out": 4}})
	out := output(t, d, "out", str, str)
	pipe(t, input(t, d, "in", str, str), kv[string, string]{Key: "abc", Value: "1"}, kv[string, string]{Key: "a", Value: "2"})
	recs, err := out.ReadOutputRecordsToList()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Partition != 3 || recs[1].Partition != 1 {
		t.Fatalf("records %+v", recs)
	}
}

// TestProcessWithStore checks KStream#process: a custom processor with a store added
// to the builder, its output typed by the processor. A processor may change keys, so a
// grouping after it repartitions.
func TestProcessWithStore(t *testing.T) {
	b := dsl.NewBuilder()
	b.AddStateStore(runtime.KeyValueStoreBuilder("seen", str, i64, runtime.StoreOptions{}))
	dedup := func() runtime.Processor[string, string, string, int64] {
		return &firstSeen{}
	}
	b.Stream("in", strs).
		Process(dedup, dsl.Processed{Name: "first-seen", Stores: []string{"seen"}}).
		GroupByKey(dsl.Grouped[string, int64]{Keys: str, Values: i64}).
		Count(dsl.Materialized[string, int64]{Name: "firsts"}).
		ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"in": 2}})
	out := output(t, d, "out", str, serde.Nullable(i64))
	pipe(t, input(t, d, "in", str, str),
		kv[string, string]{Key: "a", Value: "x"}, kv[string, string]{Key: "a", Value: "y"},
		kv[string, string]{Key: "b", Value: "x"})
	// first-seen forwards ("seen", time) only for a key's first record.
	expectNullable(t, out, kv[string, *int64]{Key: "first", Value: ptr[int64](1)}, kv[string, *int64]{Key: "first", Value: ptr[int64](2)})
	seen, err := d.ReadKeyValueStore[string, int64]("seen")
	if err != nil {
		t.Fatal(err)
	}
	all, err := seen.All()
	if err != nil || len(all) != 2 {
		t.Fatalf("store seen holds %v (%v), want a and b", all, err)
	}
}

// firstSeen forwards ("first", 1) the first time it sees a key, remembering keys in
// the store "seen".
type firstSeen struct {
	ctx  runtime.ProcessorContext[string, int64]
	seen *state.KeyValueStore[string, int64]
}

func (p *firstSeen) Init(ctx runtime.ProcessorContext[string, int64]) error {
	p.ctx = ctx
	var err error
	p.seen, err = runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, "seen")
	return err
}

func (p *firstSeen) Process(r runtime.Record[string, string]) error {
	if _, found, err := p.seen.Get(r.Key); err != nil || found {
		return err
	}
	if err := p.seen.Put(r.Key, r.Timestamp); err != nil {
		return err
	}
	return p.ctx.Forward(runtime.Record[string, int64]{Key: "first", Value: 1, Timestamp: r.Timestamp})
}

func (p *firstSeen) Close() error { return nil }
