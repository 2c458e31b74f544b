package dsl_test

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// stateNames lists what an application's state is tied to: every store, changelog and
// repartition topic of top, for application "app".
func stateNames(t *testing.T, top *runtime.Topology) []string {
	t.Helper()
	subs, err := top.Subtopologies("app")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range subs {
		names = append(names, st.Stores...)
		names = append(names, st.ChangelogTopics...)
	}
	for _, r := range top.RepartitionTopics("app") {
		names = append(names, r.Topic)
	}
	slices.Sort(names)
	return names
}

func mustBuild(t *testing.T, b *dsl.Builder) *runtime.Topology {
	t.Helper()
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// TestStateNamesStable checks eddy's naming rule, where it differs from Kafka Streams
// on purpose: in Kafka Streams adding any operator upstream renames every generated
// store, changelog and repartition topic after it (and so does naming a processor,
// which stops it drawing a number); here generated state names are numbered per kind,
// so operators of other kinds and Named rename nothing. Explicit names (Named for
// processors, Materialized for stores) survive every change, as in Kafka Streams.
func TestStateNamesStable(t *testing.T) {
	// base builds the application; named also gives its unnamed stateful operators a
	// Named, which must rename no state either.
	build := func(b *dsl.Builder, s dsl.Stream[string, string], named bool) {
		opt := func(name string) []dsl.TableOption {
			if named {
				return []dsl.TableOption{dsl.Named(name)}
			}
			return nil
		}
		byWord := dsl.Grouped[string, string]{Keys: serde.String()}
		concat := func(a, v string) string { return a + v }
		s.GroupBy(func(_, w string) string { return w }, byWord).Count(opt("count-words")...)
		s.SelectKey(func(k, _ string) string { return k + "!" }).GroupByKey().Reduce(concat, opt("reduce-keys")...)
		users := b.Table("users", strs)
		users.GroupBy(func(k, v string) (string, string) { return v, k }, dsl.Grouped[string, string]{Keys: serde.String(), Values: serde.String()}).Count(opt("count-regions")...)
		// Explicitly named processors and stores.
		s.GroupByKey().Reduce(concat, dsl.Named("latest-by-key"), dsl.Materialized[string, string]{Name: "latest"})
		active := users.Filter(func(_, v string) bool { return v != "" }, dsl.Named("active-users"), dsl.Materialized[string, string]{Name: "active"})
		active.Join(users, func(a, u string) string { return a + u }, dsl.Named("users-join"), dsl.Materialized[string, string]{Name: "joined-users"})
	}
	base := func(b *dsl.Builder, s dsl.Stream[string, string]) { build(b, s, false) }
	// explicit are the processors named explicitly in base, with their stores.
	explicit := []string{"latest-by-key", "active-users", "users-join", "users-join-join-this", "users-join-join-other"}
	var wantProcs map[string][]string
	want := func() []string {
		b := dsl.NewBuilder()
		base(b, b.Stream("words", strs))
		top := mustBuild(t, b)
		wantProcs = processors(top)
		return stateNames(t, top)
	}()
	wantExact := []string{
		"KSTREAM-AGGREGATE-STATE-STORE-0000000000",
		"KSTREAM-REDUCE-STATE-STORE-0000000000",
		"KTABLE-AGGREGATE-STATE-STORE-0000000000",
		"app-KSTREAM-AGGREGATE-STATE-STORE-0000000000-changelog",
		"app-KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition",
		"app-KSTREAM-REDUCE-STATE-STORE-0000000000-changelog",
		"app-KSTREAM-REDUCE-STATE-STORE-0000000000-repartition",
		"app-KTABLE-AGGREGATE-STATE-STORE-0000000000-changelog",
		"app-KTABLE-AGGREGATE-STATE-STORE-0000000000-repartition",
		"app-users-STATE-STORE-0000000000-changelog",
		"users-STATE-STORE-0000000000",
		"active", "app-active-changelog", "latest", "app-latest-changelog", "joined-users", "app-joined-users-changelog",
	}
	slices.Sort(wantExact)
	if !slices.Equal(want, wantExact) {
		t.Fatalf("state names:\n got %q\nwant %q", want, wantExact)
	}
	changes := []struct {
		name   string
		change func(b *dsl.Builder, s dsl.Stream[string, string])
	}{
		{"a Filter and a MapValues before the aggregations", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			base(b, s.Filter(func(_, v string) bool { return v != "" }).MapValues(strings.ToLower))
		}},
		{"a branch of stateless operators written to a topic first", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			s.Peek(func(string, string) {}).SelectKey(func(_, v string) string { return v }).To("copy")
			base(b, s)
		}},
		{"a stateful operator of another kind first", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			s.ToTable()
			s.GroupByKey().Cogroup(func(string, string, int64) int64 { return 1 }).
				Aggregate(func() int64 { return 0 }, dsl.Materialized[string, int64]{Values: serde.Int64()})
			base(b, s)
		}},
		{"an explicitly named aggregation of the same kind first", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			s.GroupByKey().Count(dsl.Materialized[string, int64]{Name: "named"})
			base(b, s)
		}},
		{"a stateful operator of the same kind after", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			base(b, s)
			s.GroupByKey().Count()
		}},
		{"materialized table filters and mappings first", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			b.Table("other", strs).Filter(func(string, string) bool { return true }, dsl.Materialized[string, string]{}).
				MapValues(strings.ToUpper, dsl.Materialized[string, string]{})
			base(b, s)
		}},
		{"a Named given to every unnamed stateful operator", func(b *dsl.Builder, s dsl.Stream[string, string]) {
			build(b, s, true)
		}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.change(b, b.Stream("words", strs))
			top := mustBuild(t, b)
			got := stateNames(t, top)
			for _, n := range want {
				if !slices.Contains(got, n) {
					t.Errorf("state name %q lost; have %q", n, got)
				}
			}
			procs := processors(top)
			for _, p := range explicit {
				if stores, ok := procs[p]; !ok || !slices.Equal(stores, wantProcs[p]) {
					t.Errorf("processor %q: stores %q (present %v), want %q", p, stores, ok, wantProcs[p])
				}
			}
		})
	}
}

// TestExplicitNames checks that Materialized, Grouped and Repartitioned names name the
// stores and internal topics, as in Kafka Streams.
func TestExplicitNames(t *testing.T) {
	b := dsl.NewBuilder()
	s := b.Stream("in", strs)
	s.SelectKey(func(_, v string) string { return v }).
		GroupByKey(dsl.Grouped[string, string]{Name: "by-value"}).
		Count(dsl.Materialized[string, int64]{Name: "counts"})
	s.Repartition(dsl.Repartitioned[string, string]{Name: "shuffle", Partitions: 3}).To("out")
	top := mustBuild(t, b)
	got := stateNames(t, top)
	want := []string{"app-by-value-repartition", "app-counts-changelog", "app-shuffle-repartition", "counts"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if r := top.RepartitionTopics("app"); r[1].Partitions != 3 {
		t.Errorf("shuffle partitions %d, want 3", r[1].Partitions)
	}
}

// TestBuildErrors checks that mistakes are Build errors with sentinels, not panics.
func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(b *dsl.Builder)
		want  error
	}{
		{"source without serdes", func(b *dsl.Builder) {
			b.Stream("in", dsl.Consumed[string, string]{}).To("out")
		}, dsl.ErrSerdeRequired},
		{"sink of a mapped value without a serde", func(b *dsl.Builder) {
			b.Stream("in", strs).MapValues(func(v string) int { return len(v) }).To("out")
		}, dsl.ErrSerdeRequired},
		{"repartition without the new key's serde", func(b *dsl.Builder) {
			b.Stream("in", strs).GroupBy(func(_, v string) int { return len(v) }).Count()
		}, dsl.ErrSerdeRequired},
		{"aggregate without the aggregate's serde", func(b *dsl.Builder) {
			b.Stream("in", strs).GroupByKey().Aggregate(func() int { return 0 }, func(string, string, int) int { return 0 })
		}, dsl.ErrSerdeRequired},
		{"two options values", func(b *dsl.Builder) {
			b.Stream("in", strs).To("out", dsl.Produced[string, string]{}, dsl.Produced[string, string]{})
		}, dsl.ErrInvalidOption},
		{"a Materialized of other types than the table's", func(b *dsl.Builder) {
			b.Stream("in", strs).GroupByKey().Count(dsl.Materialized[string, string]{Name: "counts"})
		}, dsl.ErrInvalidOption},
		{"two Named", func(b *dsl.Builder) {
			b.Table("in", strs).Filter(func(string, string) bool { return true }, dsl.Named("a"), dsl.Named("b"))
		}, dsl.ErrInvalidOption},
		{"two Materialized", func(b *dsl.Builder) {
			b.Stream("in", strs).ToTable(dsl.Materialized[string, string]{}, dsl.Materialized[string, string]{})
		}, dsl.ErrInvalidOption},
		{"materialized MapValues to a new type without its serde", func(b *dsl.Builder) {
			b.Table("in", strs).MapValues(func(v string) int { return len(v) }, dsl.Materialized[string, int]{Name: "lens"})
		}, dsl.ErrSerdeRequired},
		{"merge across builders", func(b *dsl.Builder) {
			other := dsl.NewBuilder().Stream("x", strs)
			b.Stream("in", strs).Merge(other).To("out")
		}, dsl.ErrForeignBuilder},
		{"branch after the split ended", func(b *dsl.Builder) {
			bs := b.Stream("in", strs).Split()
			bs.NoDefaultBranch()
			bs.Branch("late", func(string, string) bool { return true })
		}, dsl.ErrInvalidOption},
		{"duplicate processor name", func(b *dsl.Builder) {
			s := b.Stream("in", strs)
			s.Filter(func(string, string) bool { return true }, "f").To("a")
			s.Filter(func(string, string) bool { return true }, "f").To("b")
		}, runtime.ErrInvalidTopology},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(b)
			if _, err := b.Build(); !errors.Is(err, c.want) {
				t.Fatalf("Build error %v, want %v", err, c.want)
			}
		})
	}
	t.Run("operator after Build", func(t *testing.T) {
		b := dsl.NewBuilder()
		s := b.Stream("in", strs)
		s.To("out")
		mustBuild(t, b)
		s.To("again")
		if _, err := b.Build(); !errors.Is(err, dsl.ErrBuilt) {
			t.Fatalf("Build error %v, want ErrBuilt", err)
		}
	})
}

// processors maps each processor of top to the stores it is connected to.
func processors(top *runtime.Topology) map[string][]string {
	out := map[string][]string{}
	for _, st := range top.Describe().Subtopologies {
		for _, n := range st.Nodes {
			if n.Type == runtime.ProcessorNode {
				out[n.Name] = n.Stores
			}
		}
	}
	return out
}

// TestNamedStatefulOperators checks Kafka Streams' naming rule for the operators that
// keep state (KIP-307): Named names the processors, Materialized.as names the store,
// and a Materialized without a name gets a generated store name, never one derived
// from Named. Where an operator adds several processors, Named names them as Kafka
// Streams does: "-cogroup-agg-<i>" and "-cogroup-merge" for a cogroup, "-join-this"
// and "-join-other" for a table join. KStream#toTable, alone, names its repartition
// topic after Named. Each topology also runs, named both ways, with the same output.
func TestNamedStatefulOperators(t *testing.T) {
	type step struct{ topic, key, value string }
	const n = "named-op"
	itoa := func(v int64) string { return strconv.FormatInt(v, 10) }
	concat := func(agg, v string) string { return agg + v }
	remove := func(agg, v string) string { return strings.Replace(agg, v, "", 1) }
	byValue := dsl.Grouped[string, string]{Keys: str, Values: str}
	or := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	cases := []struct {
		rule string
		// build reads "in" (and "in2") and returns the table under test, given options.
		build func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string]
		// unnamed is a Materialized without a name (nil: none) and named one named
		// "store", of the table's types.
		unnamed, named dsl.TableOption
		// processors are the processors Named names; the first holds the store.
		processors []string
		// generated is the store's name with the unnamed Materialized ("" for none).
		generated string
		// fromNamed are the state names derived from Named.
		fromNamed []string
		steps     []step
		want      []kv[string, *string]
	}{
		{
			rule: "KGroupedStream#count(Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Stream("in", strs).GroupBy(func(_, v string) string { return v }, byValue).Count(opts...).MapValues(itoa)
			},
			named:      dsl.Materialized[string, int64]{Name: "store"},
			processors: []string{n},
			generated:  "KSTREAM-AGGREGATE-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "x"}, {"in", "b", "x"}, {"in", "c", "y"}},
			want:       []kv[string, *string]{{Key: "x", Value: ptr("1")}, {Key: "x", Value: ptr("2")}, {Key: "y", Value: ptr("1")}},
		},
		{
			rule: "KGroupedStream#reduce(Reducer, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Stream("in", strs).GroupByKey().Reduce(concat, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{InMemory: true},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KSTREAM-REDUCE-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "1"}, {"in", "a", "2"}},
			want:       []kv[string, *string]{{Key: "a", Value: ptr("1")}, {Key: "a", Value: ptr("12")}},
		},
		{
			rule: "KGroupedStream#aggregate(Initializer, Aggregator, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Stream("in", strs).GroupByKey().Aggregate(func() string { return ">" }, func(_, v, agg string) string { return agg + v }, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KSTREAM-AGGREGATE-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "1"}, {"in", "a", "2"}},
			want:       []kv[string, *string]{{Key: "a", Value: ptr(">1")}, {Key: "a", Value: ptr(">12")}},
		},
		{
			rule: "KGroupedTable#count(Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).GroupBy(func(k, v string) (string, string) { return v, k }, byValue).Count(opts...).MapValues(itoa)
			},
			unnamed:    dsl.Materialized[string, int64]{},
			named:      dsl.Materialized[string, int64]{Name: "store"},
			processors: []string{n},
			generated:  "KTABLE-AGGREGATE-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "x"}, {"in", "b", "x"}, {"in", "a", "y"}},
			want: []kv[string, *string]{{Key: "x", Value: ptr("1")}, {Key: "x", Value: ptr("2")},
				{Key: "x", Value: ptr("1")}, {Key: "y", Value: ptr("1")}},
		},
		{
			rule: "KGroupedTable#reduce(Reducer, Reducer, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).GroupBy(func(_, v string) (string, string) { return "all", v }, byValue).Reduce(concat, remove, opts...)
			},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KTABLE-REDUCE-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "x"}, {"in", "b", "y"}, {"in", "a", "z"}},
			want:       []kv[string, *string]{{Key: "all", Value: ptr("x")}, {Key: "all", Value: ptr("xy")}, {Key: "all", Value: ptr("yz")}},
		},
		{
			rule: "KGroupedTable#aggregate(Initializer, Aggregator, Aggregator, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).GroupBy(func(_, v string) (string, string) { return "all", v }, byValue).
					Aggregate(func() string { return ">" }, func(_, v, agg string) string { return agg + v }, func(_, v, agg string) string { return remove(agg, v) }, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KTABLE-AGGREGATE-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "x"}, {"in", "b", "y"}, {"in", "a", "z"}},
			want:       []kv[string, *string]{{Key: "all", Value: ptr(">x")}, {Key: "all", Value: ptr(">xy")}, {Key: "all", Value: ptr(">yz")}},
		},
		{
			rule: "CogroupedKStream#aggregate(Initializer, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Stream("in", strs).GroupByKey().Cogroup(func(_, v, agg string) string { return agg + v }).
					Cogroup(b.Stream("in2", strs).GroupByKey(), func(_, v, agg string) string { return agg + strings.ToUpper(v) }).
					Aggregate(func() string { return "" }, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{Values: str},
			named:      dsl.Materialized[string, string]{Name: "store", Values: str},
			processors: []string{n + "-cogroup-agg-0", n + "-cogroup-agg-1", n + "-cogroup-merge"},
			generated:  "COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000000",
			steps:      []step{{"in", "u", "a"}, {"in2", "u", "b"}, {"in", "u", "c"}},
			want:       []kv[string, *string]{{Key: "u", Value: ptr("a")}, {Key: "u", Value: ptr("aB")}, {Key: "u", Value: ptr("aBc")}},
		},
		{
			rule: "KStream#toTable(Named, Materialized), repartitioned through <Named>-repartition",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Stream("in", strs).SelectKey(func(k, _ string) string { return strings.ToUpper(k) }).ToTable(opts...)
			},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KSTREAM-TOTABLE-STATE-STORE-0000000000",
			fromNamed:  []string{"app-" + n + "-repartition"},
			steps:      []step{{"in", "a", "1"}, {"in", "a", "2"}},
			want:       []kv[string, *string]{{Key: "A", Value: ptr("1")}, {Key: "A", Value: ptr("2")}},
		},
		{
			rule: "KTable#join(KTable, ValueJoiner, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).Join(b.Table("in2", strs), func(l, r string) string { return l + "/" + r }, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n, n + "-join-this", n + "-join-other"},
			generated:  "KTABLE-JOIN-STATE-STORE-0000000000",
			steps:      []step{{"in", "k", "L"}, {"in2", "k", "R"}},
			want:       []kv[string, *string]{{Key: "k", Value: ptr("L/R")}},
		},
		{
			rule: "KTable#leftJoin(KTable, ValueJoiner, Named), not materialized without Materialized",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).LeftJoin(b.Table("in2", strs), func(l string, r *string) string { return l + "/" + or(r) }, opts...)
			},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n, n + "-join-this", n + "-join-other"},
			steps:      []step{{"in", "k", "L"}, {"in2", "k", "R"}},
			want:       []kv[string, *string]{{Key: "k", Value: ptr("L/-")}, {Key: "k", Value: ptr("L/R")}},
		},
		{
			rule: "KTable#outerJoin(KTable, ValueJoiner, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).OuterJoin(b.Table("in2", strs), func(l, r *string) string { return or(l) + "/" + or(r) }, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n, n + "-join-this", n + "-join-other"},
			generated:  "KTABLE-JOIN-STATE-STORE-0000000000",
			steps:      []step{{"in2", "k", "R"}, {"in", "k", "L"}},
			want:       []kv[string, *string]{{Key: "k", Value: ptr("-/R")}, {Key: "k", Value: ptr("L/R")}},
		},
		{
			rule: "KTable#filter(Predicate, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).Filter(func(_, v string) bool { return v != "drop" }, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KTABLE-FILTER-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "keep"}, {"in", "a", "drop"}},
			want:       []kv[string, *string]{{Key: "a", Value: ptr("keep")}, {Key: "a"}},
		},
		{
			rule: "KTable#mapValues(ValueMapper, Named, Materialized)",
			build: func(b *dsl.Builder, opts ...dsl.TableOption) dsl.Table[string, string] {
				return b.Table("in", strs).MapValues(strings.ToUpper, opts...)
			},
			unnamed:    dsl.Materialized[string, string]{},
			named:      dsl.Materialized[string, string]{Name: "store"},
			processors: []string{n},
			generated:  "KTABLE-MAPVALUES-STATE-STORE-0000000000",
			steps:      []step{{"in", "a", "x"}},
			want:       []kv[string, *string]{{Key: "a", Value: ptr("X")}},
		},
	}
	for _, c := range cases {
		variants := []struct {
			name  string
			opts  []dsl.TableOption
			store string
		}{
			{"Named and Materialized.as", []dsl.TableOption{dsl.Named(n), c.named}, "store"},
			{"Named without a store name", []dsl.TableOption{dsl.Named(n)}, c.generated},
		}
		if c.unnamed != nil {
			variants[1].opts = append(variants[1].opts, c.unnamed)
		}
		for _, v := range variants {
			t.Run(c.rule+"/"+v.name, func(t *testing.T) {
				b := dsl.NewBuilder()
				c.build(b, v.opts...).ToStream().To("out", dsl.Produced[string, *string]{Values: serde.Nullable(str)})
				top := mustBuild(t, b)
				procs := processors(top)
				for _, p := range c.processors {
					if _, ok := procs[p]; !ok {
						t.Errorf("no processor %q; have %v", p, slices.Sorted(maps.Keys(procs)))
					}
				}
				if got := procs[c.processors[0]]; v.store != "" && !slices.Contains(got, v.store) {
					t.Errorf("processor %s has stores %q, want %q among them", c.processors[0], got, v.store)
				}
				for _, s := range stateNames(t, top) {
					if strings.Contains(s, n) && !slices.Contains(c.fromNamed, s) {
						t.Errorf("state name %q derived from Named", s)
					}
				}
				for _, s := range c.fromNamed {
					if !slices.Contains(stateNames(t, top), s) {
						t.Errorf("no %q; have %q", s, stateNames(t, top))
					}
				}
				d := newDriver(t, b, testdriver.Config{})
				out := output(t, d, "out", str, serde.Nullable(str))
				for _, s := range c.steps {
					pipe(t, input(t, d, s.topic, str, str), kv[string, string]{Key: s.key, Value: s.value})
				}
				expectNullable(t, out, c.want...)
			})
		}
	}
}
