package dsl_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
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
// store, changelog and repartition topic after it; here generated state names are
// numbered per kind, so operators of other kinds rename nothing.
func TestStateNamesStable(t *testing.T) {
	base := func(b *dsl.Builder, s dsl.Stream[string, string]) {
		byWord := dsl.Grouped[string, string]{Keys: serde.String()}
		s.GroupBy(func(_, w string) string { return w }, byWord).Count()
		s.SelectKey(func(k, _ string) string { return k + "!" }).GroupByKey().Reduce(func(a, v string) string { return a + v })
		b.Table("users", strs).GroupBy(func(k, v string) (string, string) { return v, k }, dsl.Grouped[string, string]{Keys: serde.String(), Values: serde.String()}).Count()
	}
	want := func() []string {
		b := dsl.NewBuilder()
		base(b, b.Stream("words", strs))
		return stateNames(t, mustBuild(t, b))
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
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.change(b, b.Stream("words", strs))
			got := stateNames(t, mustBuild(t, b))
			for _, n := range want {
				if !slices.Contains(got, n) {
					t.Errorf("state name %q lost; have %q", n, got)
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
