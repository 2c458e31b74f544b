package dsl_test

import (
	"strings"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// lookupRig is stream "s" joined with table topic "t", written to "out".
type lookupRig struct {
	s   *testdriver.InputTopic[string, string]
	t   *testdriver.InputTopic[string, *string]
	out *testdriver.OutputTopic[string, string]
}

func newLookupRig(t *testing.T, build func(s dsl.Stream[string, string], tbl dsl.Table[string, string]) dsl.Stream[string, string]) *lookupRig {
	t.Helper()
	b := dsl.NewBuilder()
	build(b.Stream("s", strs), b.Table("t", strs)).To("out")
	d := newDriver(t, b, testdriver.Config{})
	return &lookupRig{s: input(t, d, "s", str, str), t: input(t, d, "t", str, serde.Nullable(str)), out: output(t, d, "out", str, str)}
}

func (g *lookupRig) table(t *testing.T, key string, value *string, ts int64) {
	t.Helper()
	if err := g.t.PipeRecord(recordAt(key, value, ts)); err != nil {
		t.Fatal(err)
	}
}

// TestStreamTableJoin checks KStream-KTable inner join: only stream records trigger,
// each joined with the table's value of its key when it is processed, carrying the
// stream record's timestamp; a stream record before the table has its key, or after
// the key's delete, is dropped; table updates emit nothing.
func TestStreamTableJoin(t *testing.T) {
	g := newLookupRig(t, func(s dsl.Stream[string, string], tbl dsl.Table[string, string]) dsl.Stream[string, string] {
		return s.JoinTable(tbl, joinValues)
	})
	pipeAt(t, g.s, "a", "s1", 10) // the table lacks a yet: dropped
	g.table(t, "a", ptr("t1"), 20)
	expectAt(t, g.out) // a table update triggers nothing
	pipeAt(t, g.s, "a", "s2", 30)
	g.table(t, "a", ptr("t2"), 40)
	pipeAt(t, g.s, "a", "s3", 35) // the table's current value, whatever the timestamps
	g.table(t, "a", nil, 50)
	pipeAt(t, g.s, "a", "s4", 60)
	expectAt(t, g.out, at{"a", "s2+t1", 30}, at{"a", "s3+t2", 35})
}

// TestStreamTableLeftJoin checks KStream-KTable left join: a stream record whose key
// the table lacks is emitted with a nil table value.
func TestStreamTableLeftJoin(t *testing.T) {
	g := newLookupRig(t, func(s dsl.Stream[string, string], tbl dsl.Table[string, string]) dsl.Stream[string, string] {
		return s.LeftJoinTable(tbl, leftValues)
	})
	pipeAt(t, g.s, "a", "s1", 10)
	g.table(t, "a", ptr("t1"), 20)
	pipeAt(t, g.s, "a", "s2", 30)
	g.table(t, "a", nil, 40)
	pipeAt(t, g.s, "a", "s3", 50)
	expectAt(t, g.out, at{"a", "s1+null", 10}, at{"a", "s2+t1", 30}, at{"a", "s3+null", 50})
}

// TestStreamTableJoinRepartitions checks that a stream rekeyed upstream is
// repartitioned before the lookup, through the topic Joined names, and joins by its
// new key.
func TestStreamTableJoinRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("s", strs).
		SelectKey(func(_, v string) string { return strings.SplitN(v, ":", 2)[0] }).
		JoinTable(b.Table("t", strs), joinValues, dsl.Joined[string, string]{Name: "lookup"}).
		To("out")
	d := newDriver(t, b, testdriver.Config{})
	if desc := mustDescribe(t, b); !strings.Contains(desc, "lookup-repartition") {
		t.Fatalf("no repartition topic:\n%s", desc)
	}
	tin := input(t, d, "t", str, str)
	sin, out := input(t, d, "s", str, str), output(t, d, "out", str, str)
	pipe(t, tin, kv[string, string]{Key: "c1", Value: "Ann"})
	pipeAt(t, sin, "order-1", "c1:book", 5)
	expectAt(t, out, at{"c1", "c1:book+Ann", 5})
}

// TestStreamGlobalTableJoin checks KStream-GlobalKTable joins: the key mapper picks
// the global table's key from the stream record, the result keeps the stream's key,
// and a record whose mapped key is missing is dropped (inner) or joined with nil
// (left).
func TestStreamGlobalTableJoin(t *testing.T) {
	b := dsl.NewBuilder()
	g := b.GlobalTable("customers", strs)
	orders := b.Stream("orders", strs)
	customerOf := func(_, v string) string { return strings.SplitN(v, ":", 2)[0] }
	orders.JoinGlobalTable(g, customerOf, joinValues).To("inner")
	orders.LeftJoinGlobalTable(g, customerOf, leftValues).To("left")
	d := newDriver(t, b, testdriver.Config{})
	cust, ord := input(t, d, "customers", str, serde.Nullable(str)), input(t, d, "orders", str, str)
	inner, left := output(t, d, "inner", str, str), output(t, d, "left", str, str)
	if err := cust.PipeInput("c1", ptr("Ann")); err != nil {
		t.Fatal(err)
	}
	pipeAt(t, ord, "o1", "c1:book", 10)
	pipeAt(t, ord, "o2", "c2:pen", 11)
	if err := cust.PipeInput("c1", nil); err != nil {
		t.Fatal(err)
	}
	pipeAt(t, ord, "o3", "c1:ink", 12)
	expectAt(t, inner, at{"o1", "c1:book+Ann", 10})
	expectAt(t, left, at{"o1", "c1:book+Ann", 10}, at{"o2", "c2:pen+null", 11}, at{"o3", "c1:ink+null", 12})
}

func mustDescribe(t *testing.T, b *dsl.Builder) string {
	t.Helper()
	return mustBuild(t, b).Describe().String()
}
