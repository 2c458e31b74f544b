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

// recordAt returns a record of key and value at ts milliseconds.
func recordAt[V any](key string, value V, ts int64) runtime.Record[string, V] {
	return runtime.Record[string, V]{Key: key, Value: value, Timestamp: ts}
}

// fkRig is table "orders" (order ID to "customer:item") joined on its customer with
// table "customers" (customer ID to name), the result's changes written to "out".
type fkRig struct {
	orders, customers *testdriver.InputTopic[string, *string]
	out               *testdriver.OutputTopic[string, *string]
	d                 *testdriver.Driver
}

func customerOf(order string) string { return strings.SplitN(order, ":", 2)[0] }

func newFKRig(t *testing.T, left bool) *fkRig {
	t.Helper()
	b := dsl.NewBuilder()
	orders, customers := b.Table("orders", strs), b.Table("customers", strs)
	var joined dsl.Table[string, string]
	if left {
		joined = orders.LeftJoinOnForeignKey(customers, customerOf, leftValues)
	} else {
		joined = orders.JoinOnForeignKey(customers, customerOf, joinValues, dsl.Materialized[string, string]{Name: "orders-with-names"})
	}
	joined.ToStream().To("out")
	d := newDriver(t, b, testdriver.Config{})
	return &fkRig{
		orders:    input(t, d, "orders", str, serde.Nullable(str)),
		customers: input(t, d, "customers", str, serde.Nullable(str)),
		out:       output(t, d, "out", str, serde.Nullable(str)),
		d:         d,
	}
}

func put(t *testing.T, in *testdriver.InputTopic[string, *string], key string, value *string) {
	t.Helper()
	if err := in.PipeInput(key, value); err != nil {
		t.Fatal(err)
	}
}

// row is an expected result change: a value, or a delete when nil.
func row(key string, value *string) kv[string, *string] {
	return kv[string, *string]{Key: key, Value: value}
}

// TestForeignKeyJoin checks the KTable-KTable foreign-key inner join (KIP-213) under
// updates and deletes of both sides: a left row joins when its right row exists;
// right updates reach every subscriber; a foreign key change joins the new right row,
// and moving from a match to a missing right row deletes the result (the tombstone
// KIP-213 sends with PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE); the old right row no
// longer reaches the moved row; deletes on either side delete the result.
func TestForeignKeyJoin(t *testing.T) {
	g := newFKRig(t, false)
	put(t, g.orders, "o1", ptr("c1:book")) // no c1 yet: no result
	expectNullable(t, g.out)
	put(t, g.customers, "c1", ptr("Ann"))
	put(t, g.customers, "c1", ptr("Bob"))
	put(t, g.orders, "o1", ptr("c1:pen")) // same foreign key, new value
	expectNullable(t, g.out, row("o1", ptr("c1:book+Ann")), row("o1", ptr("c1:book+Bob")), row("o1", ptr("c1:pen+Bob")))

	put(t, g.orders, "o1", ptr("c2:pen")) // moves to a missing customer: deleted
	expectNullable(t, g.out, row("o1", nil))
	put(t, g.customers, "c2", ptr("Cy"))
	put(t, g.customers, "c1", ptr("Dan")) // o1 left c1: nothing
	expectNullable(t, g.out, row("o1", ptr("c2:pen+Cy")))

	put(t, g.customers, "c2", nil) // right delete
	put(t, g.customers, "c2", ptr("Eve"))
	expectNullable(t, g.out, row("o1", nil), row("o1", ptr("c2:pen+Eve")))

	put(t, g.orders, "o2", ptr("c1:ink"))
	put(t, g.orders, "o2", ptr("c2:ink")) // match to match
	expectNullable(t, g.out, row("o2", ptr("c1:ink+Dan")), row("o2", ptr("c2:ink+Eve")))

	put(t, g.customers, "c2", ptr("Fay")) // both subscribers
	put(t, g.orders, "o1", nil)           // left delete
	put(t, g.customers, "c2", ptr("Gus"))
	put(t, g.orders, "o3", nil) // deleting a missing row: nothing
	expectNullable(t, g.out, row("o1", ptr("c2:pen+Fay")), row("o2", ptr("c2:ink+Fay")), row("o1", nil), row("o2", ptr("c2:ink+Gus")))

	st, err := g.d.GetStore[*state.TimestampedKeyValueStore[string, string]]("orders-with-names", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v, found, err := st.Get("o2"); err != nil || !found || v.Value != "c2:ink+Gus" {
		t.Fatalf("result store o2: %q %v %v", v.Value, found, err)
	}
}

// TestLeftForeignKeyJoin checks the foreign-key left join: a left row without its
// right row is joined with nil, and a right delete joins its subscribers with nil
// rather than deleting them.
func TestLeftForeignKeyJoin(t *testing.T) {
	g := newFKRig(t, true)
	put(t, g.orders, "o1", ptr("c1:book"))
	put(t, g.customers, "c1", ptr("Ann"))
	put(t, g.orders, "o1", ptr("c2:pen")) // moves to a missing customer
	put(t, g.customers, "c1", nil)        // o1 left c1: nothing
	put(t, g.customers, "c2", ptr("Bo"))
	put(t, g.customers, "c2", nil)
	put(t, g.orders, "o1", nil)
	expectNullable(t, g.out, row("o1", ptr("c1:book+null")), row("o1", ptr("c1:book+Ann")), row("o1", ptr("c2:pen+null")),
		row("o1", ptr("c2:pen+Bo")), row("o1", ptr("c2:pen+null")), row("o1", nil))
}

// TestForeignKeyJoinDropsStaleResponses checks KIP-213's hash of the left value: when
// a row changes before the answer to its previous value returns, that answer is
// dropped, so no result is emitted for a value the row no longer has.
func TestForeignKeyJoinDropsStaleResponses(t *testing.T) {
	g := newFKRig(t, false)
	put(t, g.customers, "c1", ptr("Ann"))
	err := g.d.Batch(func() error {
		if err := g.orders.PipeInput("o1", ptr("c1:book")); err != nil {
			return err
		}
		return g.orders.PipeInput("o1", ptr("c2:pen")) // c2 is missing
	})
	if err != nil {
		t.Fatal(err)
	}
	expectNullable(t, g.out) // never "c1:book+Ann"
}
