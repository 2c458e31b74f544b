package dsl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// tableRig is a table read from topic "t" whose changes are written to "out", with
// the input to pipe updates (nil: a tombstone) and the output to read.
type tableRig[V comparable] struct {
	in  *testdriver.InputTopic[string, *string]
	out *testdriver.OutputTopic[string, *V]
	d   *testdriver.Driver
}

func newTableRig[V comparable](t *testing.T, values serde.Serde[V], build func(b *dsl.Builder, tbl dsl.Table[string, string]) dsl.Table[string, V]) *tableRig[V] {
	t.Helper()
	b := dsl.NewBuilder()
	build(b, b.Table("t", strs, dsl.Materialized[string, string]{Name: "source"})).ToStream().To("out", dsl.Produced[string, *V]{Values: serde.Nullable(values)})
	d := newDriver(t, b, testdriver.Config{})
	return &tableRig[V]{
		in:  input(t, d, "t", str, serde.Nullable(str)),
		out: output(t, d, "out", str, serde.Nullable(values)),
		d:   d,
	}
}

func (r *tableRig[V]) put(t *testing.T, key string, value *string) {
	t.Helper()
	if err := r.in.PipeInput(key, value); err != nil {
		t.Fatal(err)
	}
}

// TestTableSource checks a KTable read from a topic: each record is its key's new
// value, a tombstone deletes the key, and a tombstone for a missing key changes
// nothing.
func TestTableSource(t *testing.T) {
	r := newTableRig(t, str, func(_ *dsl.Builder, tbl dsl.Table[string, string]) dsl.Table[string, string] { return tbl })
	r.put(t, "a", ptr("1"))
	r.put(t, "a", ptr("2"))
	r.put(t, "a", nil)
	r.put(t, "b", nil)
	expectNullable(t, r.out, kv[string, *string]{Key: "a", Value: ptr("1")}, kv[string, *string]{Key: "a", Value: ptr("2")},
		kv[string, *string]{Key: "a", Value: nil})
	st, err := r.d.GetStore[*state.TimestampedKeyValueStore[string, string]]("source", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := st.Get("a"); err != nil || found {
		t.Fatalf("deleted key still in the store: %v %v", found, err)
	}
}

// TestTableFilter checks KTable#filter: a key whose new value fails the predicate is
// deleted downstream if its old value passed, and not forwarded at all if neither did.
func TestTableFilter(t *testing.T) {
	r := newTableRig(t, str, func(_ *dsl.Builder, tbl dsl.Table[string, string]) dsl.Table[string, string] {
		return tbl.Filter(func(_, v string) bool { return len(v) > 1 })
	})
	r.put(t, "a", ptr("long"))
	r.put(t, "a", ptr("s"))  // stops qualifying: a delete
	r.put(t, "a", ptr("t"))  // still out: nothing
	r.put(t, "a", ptr("ok")) // back in
	r.put(t, "a", nil)       // deleted upstream: a delete
	expectNullable(t, r.out, kv[string, *string]{Key: "a", Value: ptr("long")}, kv[string, *string]{Key: "a"},
		kv[string, *string]{Key: "a", Value: ptr("ok")}, kv[string, *string]{Key: "a"})
}

// TestTableMapValues checks KTable#mapValues: values are mapped, deletes pass as
// deletes.
func TestTableMapValues(t *testing.T) {
	r := newTableRig(t, i64, func(_ *dsl.Builder, tbl dsl.Table[string, string]) dsl.Table[string, int64] {
		return tbl.MapValues(func(v string) int64 { return int64(len(v)) })
	})
	r.put(t, "a", ptr("abc"))
	r.put(t, "a", nil)
	expectNullable(t, r.out, kv[string, *int64]{Key: "a", Value: ptr[int64](3)}, kv[string, *int64]{Key: "a"})
}

// TestTableFilterMapValuesMaterialized checks KTable#filter(Predicate, Materialized)
// and KTable#mapValues(ValueMapper, Materialized): the result is kept in a store of its
// own, queryable under the Materialized name and logged as Materialized says, holding
// exactly the rows of the result; later lookups (here a join) read that store instead
// of recomputing from the parent; and without Materialized the result stays a view
// with no store.
func TestTableFilterMapValuesMaterialized(t *testing.T) {
	b := dsl.NewBuilder()
	src := b.Table("t", strs, dsl.Materialized[string, string]{Name: "source"})
	long := src.Filter(func(_, v string) bool { return len(v) > 1 }, dsl.Named("long"), dsl.Materialized[string, string]{Name: "long-values"})
	lengths := long.MapValues(func(v string) int64 { return int64(len(v)) },
		dsl.Materialized[string, int64]{Name: "lengths", Values: i64, LoggingDisabled: true, InMemory: true})
	lengths.ToStream().To("out")
	b.Table("u", strs).Join(long, func(u, l string) string { return u + "/" + l }, dsl.Named("j")).ToStream().To("joined")
	view := src.FilterNot(func(_, v string) bool { return v == "" }).MapValues(strings.ToUpper)
	if long.StoreName() != "long-values" || lengths.StoreName() != "lengths" || view.StoreName() != "" {
		t.Fatalf("store names %q %q %q, want long-values, lengths and none", long.StoreName(), lengths.StoreName(), view.StoreName())
	}
	top := mustBuild(t, b)
	want := []string{"app-long-values-changelog", "app-source-changelog", "app-u-STATE-STORE-0000000000-changelog",
		"lengths", "long-values", "source", "u-STATE-STORE-0000000000"}
	if got := stateNames(t, top); !slices.Equal(got, want) {
		t.Fatalf("state names %q, want %q", got, want)
	}
	if got := processors(top)["j-join-this"]; !slices.Equal(got, []string{"long-values"}) {
		t.Errorf("join looks the filter up in %q, want its own store long-values", got)
	}

	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(i64))
	joined := output(t, d, "joined", str, serde.Nullable(str))
	in := input(t, d, "t", str, serde.Nullable(str))
	for _, u := range []kv[string, *string]{{Key: "a", Value: ptr("long")}, {Key: "b", Value: ptr("s")}, {Key: "a", Value: ptr("x")}, {Key: "c", Value: ptr("okay")}} {
		if err := in.PipeInput(u.Key, u.Value); err != nil {
			t.Fatal(err)
		}
	}
	// b never qualifies: nothing; a stops qualifying: a delete.
	expectNullable(t, out, kv[string, *int64]{Key: "a", Value: ptr[int64](4)}, kv[string, *int64]{Key: "a"}, kv[string, *int64]{Key: "c", Value: ptr[int64](4)})
	pipe(t, input(t, d, "u", str, str), kv[string, string]{Key: "a", Value: "U"}, kv[string, string]{Key: "c", Value: "U"})
	expectNullable(t, joined, kv[string, *string]{Key: "c", Value: ptr("U/okay")})

	longStore, err := d.ReadKeyValueStore[string, serde.ValueAndTimestamp[string]]("long-values")
	if err != nil {
		t.Fatal(err)
	}
	lengthStore, err := d.ReadKeyValueStore[string, serde.ValueAndTimestamp[int64]]("lengths")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		l, lFound, err := longStore.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		n, nFound, err := lengthStore.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if k == "c" {
			if !lFound || l.Value != "okay" || !nFound || n.Value != 4 {
				t.Errorf("c: long-values %v %v, lengths %v %v; want okay and 4", l, lFound, n, nFound)
			}
		} else if lFound || nFound {
			t.Errorf("%s not in the result but stored: long-values %v, lengths %v", k, lFound, nFound)
		}
	}
}

// TestTableGroupByAggregate checks KGroupedTable#aggregate: an update subtracts the old
// value from the old group and adds the new one to the new group, and a delete
// subtracts.
func TestTableGroupByAggregate(t *testing.T) {
	// Users by region; the aggregate is the sum of the lengths of user names per region.
	r := newTableRig(t, i64, func(_ *dsl.Builder, users dsl.Table[string, string]) dsl.Table[string, int64] {
		return users.GroupBy(func(user, region string) (string, int64) { return region, int64(len(user)) },
			dsl.Grouped[string, int64]{Keys: str, Values: i64}).
			Aggregate(func() int64 { return 0 },
				func(_ string, n, agg int64) int64 { return agg + n },
				func(_ string, n, agg int64) int64 { return agg - n },
				dsl.Materialized[string, int64]{Name: "by-region", Values: i64})
	})
	t.Run("an insert adds to its group", func(t *testing.T) {
		r.put(t, "ann", ptr("eu"))
		r.put(t, "bo", ptr("eu"))
		expectNullable(t, r.out, kv[string, *int64]{Key: "eu", Value: ptr[int64](3)}, kv[string, *int64]{Key: "eu", Value: ptr[int64](5)})
	})
	t.Run("KTable aggregate subtracts the old value when a key moves groups", func(t *testing.T) {
		r.put(t, "ann", ptr("us"))
		expectNullable(t, r.out, kv[string, *int64]{Key: "eu", Value: ptr[int64](2)}, kv[string, *int64]{Key: "us", Value: ptr[int64](3)})
	})
	t.Run("a delete subtracts the old value and the group stays", func(t *testing.T) {
		r.put(t, "ann", nil)
		expectNullable(t, r.out, kv[string, *int64]{Key: "us", Value: ptr[int64](0)})
	})
	t.Run("an update within a group is one record (KIP-904)", func(t *testing.T) {
		r.put(t, "bo", ptr("eu"))
		expectNullable(t, r.out, kv[string, *int64]{Key: "eu", Value: ptr[int64](2)})
	})
}

// TestTableGroupByCountReduce checks KGroupedTable#count and #reduce with a
// subtractor over the same updates.
func TestTableGroupByCountReduce(t *testing.T) {
	b := dsl.NewBuilder()
	regions := b.Table("t", strs).GroupBy(func(user, region string) (string, string) { return region, user },
		dsl.Grouped[string, string]{Name: "users-by-region"})
	regions.Count(dsl.Materialized[string, int64]{Name: "count"}).ToStream().To("count")
	regions.Reduce(
		func(agg, user string) string { return agg + "," + user },
		func(agg, user string) string {
			return strings.Trim(strings.Replace(","+agg+",", ","+user+",", ",", 1), ",")
		},
		dsl.Materialized[string, string]{Name: "members"}).ToStream().To("members")
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"t": 3}})
	count := output(t, d, "count", str, serde.Nullable(i64))
	members := output(t, d, "members", str, serde.Nullable(str))
	in := input(t, d, "t", str, serde.Nullable(str))
	for _, u := range []kv[string, *string]{
		{Key: "ann", Value: ptr("eu")}, {Key: "bo", Value: ptr("eu")}, {Key: "cy", Value: ptr("us")},
		{Key: "ann", Value: ptr("us")}, {Key: "bo", Value: nil},
	} {
		if err := in.PipeInput(u.Key, u.Value); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := testdriver.ReadKeyValuesToMap(count)
	if err != nil {
		t.Fatal(err)
	}
	if *counts["eu"] != 0 || *counts["us"] != 2 {
		t.Errorf("counts eu=%d us=%d, want 0 and 2", *counts["eu"], *counts["us"])
	}
	m, err := testdriver.ReadKeyValuesToMap(members)
	if err != nil {
		t.Fatal(err)
	}
	if *m["eu"] != "" || *m["us"] != "cy,ann" {
		t.Errorf("members eu=%q us=%q, want \"\" and \"cy,ann\"", *m["eu"], *m["us"])
	}
}

// TestTableJoins checks KTable-KTable joins: both sides trigger, the result is a table,
// and a row that stops joining is deleted.
func TestTableJoins(t *testing.T) {
	join := func(l string, r string) string { return l + "/" + r }
	or := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	type step struct {
		topic string
		key   string
		value *string
	}
	steps := []step{
		{"left", "k", ptr("L1")},  // right missing
		{"right", "k", ptr("R1")}, // right side triggers
		{"left", "k", ptr("L2")},  // left update
		{"right", "k", nil},       // right deleted
		{"left", "k", nil},        // left deleted
		{"right", "j", ptr("R2")}, // right only
	}
	cases := []struct {
		rule  string
		build func(l, r dsl.Table[string, string], m ...dsl.TableOption) dsl.Table[string, string]
		want  []kv[string, *string]
	}{
		{"inner join emits when both sides have the key and deletes when one leaves",
			func(l, r dsl.Table[string, string], m ...dsl.TableOption) dsl.Table[string, string] {
				return l.Join(r, join, m...)
			},
			[]kv[string, *string]{{Key: "k", Value: ptr("L1/R1")}, {Key: "k", Value: ptr("L2/R1")}, {Key: "k"}}},
		{"left join emits for every left row, with the right value when there is one",
			func(l, r dsl.Table[string, string], m ...dsl.TableOption) dsl.Table[string, string] {
				return l.LeftJoin(r, func(l string, r *string) string { return l + "/" + or(r) }, m...)
			},
			[]kv[string, *string]{{Key: "k", Value: ptr("L1/-")}, {Key: "k", Value: ptr("L1/R1")}, {Key: "k", Value: ptr("L2/R1")},
				{Key: "k", Value: ptr("L2/-")}, {Key: "k"}}},
		{"outer join emits for a row on either side",
			func(l, r dsl.Table[string, string], m ...dsl.TableOption) dsl.Table[string, string] {
				return l.OuterJoin(r, func(l, r *string) string { return or(l) + "/" + or(r) }, m...)
			},
			[]kv[string, *string]{{Key: "k", Value: ptr("L1/-")}, {Key: "k", Value: ptr("L1/R1")}, {Key: "k", Value: ptr("L2/R1")},
				{Key: "k", Value: ptr("L2/-")}, {Key: "k"}, {Key: "j", Value: ptr("-/R2")}}},
	}
	for _, c := range cases {
		for _, materialized := range []bool{false, true} {
			name := c.rule
			if materialized {
				name += " (materialized)"
			}
			t.Run(name, func(t *testing.T) {
				b := dsl.NewBuilder()
				l, r := b.Table("left", strs), b.Table("right", strs)
				var m []dsl.TableOption
				if materialized {
					m = append(m, dsl.Materialized[string, string]{Name: "joined"})
				}
				res := c.build(l, r, m...)
				res.ToStream().To("out")
				d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"left": 2, "right": 2}})
				out := output(t, d, "out", str, serde.Nullable(str))
				for _, s := range steps {
					if err := input(t, d, s.topic, str, serde.Nullable(str)).PipeInput(s.key, s.value); err != nil {
						t.Fatal(err)
					}
				}
				expectNullable(t, out, c.want...)
				if !materialized {
					return
				}
				view, err := d.ReadKeyValueStore[string, serde.ValueAndTimestamp[string]]("joined")
				if err != nil {
					t.Fatal(err)
				}
				final := map[string]*string{}
				for _, w := range c.want {
					final[w.Key] = w.Value
				}
				for k, w := range final {
					v, found, err := view.Get(k)
					if err != nil || found != (w != nil) || (found && v.Value != *w) {
						t.Errorf("store joined: %s = %v %v %v, want %v", k, v, found, err, w)
					}
				}
			})
		}
	}
}

// TestJoinLookupThroughFilter checks that a join reads the other side through its
// filter when that side is not materialized (Kafka Streams' value getters): the
// filtered-out right row does not join.
func TestJoinLookupThroughFilter(t *testing.T) {
	b := dsl.NewBuilder()
	right := b.Table("right", strs).Filter(func(_, v string) bool { return v != "hidden" }).MapValues(strings.ToUpper)
	joined := b.Table("left", strs).Join(right, func(l, r string) string { return l + "/" + r },
		dsl.Materialized[string, string]{Name: "joined", Values: str})
	joined.ToStream().To("out")
	if joined.StoreName() != "joined" {
		t.Fatalf("store %q", joined.StoreName())
	}
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(str))
	rightIn, leftIn := input(t, d, "right", str, serde.Nullable(str)), input(t, d, "left", str, serde.Nullable(str))
	for _, err := range []error{
		rightIn.PipeInput("a", ptr("hidden")), rightIn.PipeInput("b", ptr("shown")),
		leftIn.PipeInput("a", ptr("L")), leftIn.PipeInput("b", ptr("L")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	expectNullable(t, out, kv[string, *string]{Key: "b", Value: ptr("L/SHOWN")})
	view, err := d.ReadKeyValueStore[string, serde.ValueAndTimestamp[string]]("joined")
	if err != nil {
		t.Fatal(err)
	}
	if v, found, err := view.Get("b"); err != nil || !found || v.Value != "L/SHOWN" {
		t.Fatalf("store joined: b = %v %v %v", v, found, err)
	}
}

// TestGlobalTable checks a GlobalKTable: every task can read its store, whatever the
// partition the key came from, and tombstones delete.
func TestGlobalTable(t *testing.T) {
	b := dsl.NewBuilder()
	g := b.GlobalTable("countries", strs, dsl.Materialized[string, string]{Name: "countries"})
	b.Stream("in", strs).Process(func() runtime.Processor[string, string, string, string] {
		return &globalLookup{store: g.StoreName()}
	}).To("out")
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"countries": 3, "in": 2}})
	out := output(t, d, "out", str, str)
	countries := input(t, d, "countries", str, serde.Nullable(str))
	for _, err := range []error{countries.PipeInput("fr", ptr("France")), countries.PipeInput("de", ptr("Germany")), countries.PipeInput("de", nil)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	pipe(t, input(t, d, "in", str, str), kv[string, string]{Key: "u1", Value: "fr"}, kv[string, string]{Key: "u2", Value: "de"})
	expect(t, out, kv[string, string]{Key: "u1", Value: "France"}, kv[string, string]{Key: "u2", Value: "?"})
}

// globalLookup replaces a country code by its name from a global table's store.
type globalLookup struct {
	store string
	ctx   runtime.ProcessorContext[string, string]
	st    *state.TimestampedKeyValueStore[string, string]
}

func (p *globalLookup) Init(ctx runtime.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	p.st, err = runtime.GetStore[*state.TimestampedKeyValueStore[string, string]](ctx, p.store)
	return err
}

func (p *globalLookup) Process(r runtime.Record[string, string]) error {
	v, found, err := p.st.Get(r.Value)
	if err != nil {
		return err
	}
	name := "?"
	if found {
		name = v.Value
	}
	return p.ctx.Forward(runtime.WithValue(r, name))
}

func (p *globalLookup) Close() error { return nil }

// TestJoinOfJoin checks a join whose other side is an unmaterialized join: an update on
// the third table looks the key up through both tables of the first join, as Kafka
// Streams' value getters do.
func TestJoinOfJoin(t *testing.T) {
	b := dsl.NewBuilder()
	ab := b.Table("a", strs).Join(b.Table("b", strs), func(a, b string) string { return a + b })
	b.Table("c", strs).FilterNot(func(_, v string) bool { return v == "skip" }).
		Join(ab, func(c, ab string) string { return c + "|" + ab }).
		ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	out := output(t, d, "out", str, serde.Nullable(str))
	for _, p := range []struct{ topic, key, value string }{
		{"a", "k", "A"}, {"b", "k", "B"}, {"c", "k", "C"}, {"c", "k", "skip"},
	} {
		if err := input(t, d, p.topic, str, str).PipeInput(p.key, p.value); err != nil {
			t.Fatal(err)
		}
	}
	expectNullable(t, out, kv[string, *string]{Key: "k", Value: ptr("C|AB")}, kv[string, *string]{Key: "k"})
}
