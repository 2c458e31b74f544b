package dsl_test

import (
	"fmt"
	"testing"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// kv is a compact expected record.
type kv[K, V any] = testdriver.KeyValue[K, V]

// newDriver builds b and runs it in a test driver closed with the test.
func newDriver(t *testing.T, b *dsl.Builder, cfg testdriver.Config) *testdriver.Driver {
	t.Helper()
	d, err := testdriver.New(mustBuild(t, b), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func input[K, V any](t *testing.T, d *testdriver.Driver, topic string, keys serde.Serde[K], values serde.Serde[V]) *testdriver.InputTopic[K, V] {
	t.Helper()
	in, err := d.CreateInputTopic(topic, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func output[K, V any](t *testing.T, d *testdriver.Driver, topic string, keys serde.Serde[K], values serde.Serde[V]) *testdriver.OutputTopic[K, V] {
	t.Helper()
	out, err := d.CreateOutputTopic(topic, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pipe pipes each pair, failing the test on the first error.
func pipe[K, V any](t *testing.T, in *testdriver.InputTopic[K, V], kvs ...kv[K, V]) {
	t.Helper()
	if err := in.PipeKeyValues(kvs...); err != nil {
		t.Fatal(err)
	}
}

// expect reads every unread record of out and compares it with want.
func expect[K, V comparable](t *testing.T, out *testdriver.OutputTopic[K, V], want ...kv[K, V]) {
	t.Helper()
	got, err := out.ReadKeyValuesToList()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}

// expectNullable is expect for a topic of nullable values, nil for a tombstone.
func expectNullable[K comparable, V comparable](t *testing.T, out *testdriver.OutputTopic[K, *V], want ...kv[K, *V]) {
	t.Helper()
	got, err := out.ReadKeyValuesToList()
	if err != nil {
		t.Fatal(err)
	}
	show := func(l []kv[K, *V]) []string {
		var s []string
		for _, r := range l {
			if r.Value == nil {
				s = append(s, fmtKV(r.Key, "<nil>"))
			} else {
				s = append(s, fmtKV(r.Key, *r.Value))
			}
		}
		return s
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", show(got), show(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Key != w.Key || (g.Value == nil) != (w.Value == nil) || (g.Value != nil && *g.Value != *w.Value) {
			t.Fatalf("got %v, want %v", show(got), show(want))
		}
	}
}

func fmtKV(k, v any) string { return fmt.Sprintf("%v=%v", k, v) }

func ptr[T any](v T) *T { return &v }

var (
	strs = dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
	str  = serde.String()
	i64  = serde.Int64()
)
