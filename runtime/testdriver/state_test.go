package testdriver_test

import (
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// With StateDir set, persistent stores live in Badger, committed after each record, so
// a second driver over the same directory finds the first one's state.
func TestPersistentStoresInBadger(t *testing.T) {
	dir := t.TempDir()
	cfg := testdriver.Config{StateDir: dir, Partitions: map[string]int32{"nums": 2}}
	run := func(values ...int64) map[string]int64 {
		d, err := testdriver.New(int64Sum(t), cfg)
		must(t, err)
		defer func() { must(t, d.Close()) }()
		in, err := d.CreateInputTopic("nums", strings(), serde.Int64())
		must(t, err)
		for _, v := range values {
			must(t, in.PipeInput("a", v))
			must(t, in.PipeInput("b", 10*v))
		}
		view, err := d.ReadKeyValueStore[string, int64]("sums")
		must(t, err)
		all, err := view.All()
		must(t, err)
		out := map[string]int64{}
		for _, kv := range all {
			out[kv.Key] = kv.Value
		}
		return out
	}
	if got := run(1, 2); got["a"] != 3 || got["b"] != 30 {
		t.Fatalf("first run %v", got)
	}
	if got := run(4); got["a"] != 7 || got["b"] != 70 {
		t.Fatalf("second run %v, want the first run's sums plus 4 and 40", got)
	}
}

// A global store is fed from every partition of its topic, and every task reads it.
func TestGlobalStore(t *testing.T) {
	top := runtime.NewTopology()
	names := runtime.KeyValueStoreBuilder("names", strings(), strings(), runtime.StoreOptions{})
	load := runtime.ProcessorFunc[string, string, struct{}, struct{}](func(ctx runtime.ProcessorContext[struct{}, struct{}], r runtime.Record[string, string]) error {
		s, err := runtime.GetStore[*state.KeyValueStore[string, string]](ctx, "names")
		if err != nil {
			return err
		}
		return s.Put(r.Key, r.Value)
	})
	must(t, top.AddGlobalStore(names, "names-src", runtime.SourceConfig[string, string]{Topics: []string{"users"}, Keys: strings(), Values: strings()}, "names-load", load.Supplier()))
	must(t, top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"in"}, Keys: strings(), Values: strings()}))
	join := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		s, err := runtime.GetStore[*state.KeyValueStore[string, string]](ctx, "names")
		if err != nil {
			return err
		}
		name, _, err := s.Get(r.Key)
		if err != nil {
			return err
		}
		return ctx.Forward(runtime.WithValue(r, name+": "+r.Value))
	})
	must(t, top.AddProcessor("join", join.Supplier(), "src"))
	must(t, top.AddSink("sink", runtime.SinkConfig[string, string]{Topic: "out", Keys: strings(), Values: strings()}, "join"))
	d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"users": 2, "in": 3}})
	users, err := d.CreateInputTopic("users", strings(), strings())
	must(t, err)
	must(t, users.PipeKeyValues(
		testdriver.KeyValue[string, string]{Key: "u1", Value: "Ann"},
		testdriver.KeyValue[string, string]{Key: "u2", Value: "Bob"},
		testdriver.KeyValue[string, string]{Key: "u3", Value: "Cy"},
	))
	in, err := d.CreateInputTopic("in", strings(), strings())
	must(t, err)
	for _, u := range []string{"u1", "u2", "u3"} {
		must(t, in.PipeInput(u, "hi"))
	}
	out, err := d.CreateOutputTopic("out", strings(), strings())
	must(t, err)
	got, err := testdriver.ReadKeyValuesToMap(out)
	must(t, err)
	if len(got) != 3 || got["u1"] != "Ann: hi" || got["u2"] != "Bob: hi" || got["u3"] != "Cy: hi" {
		t.Errorf("joined %v", got)
	}
	s, err := d.GetStore[*state.KeyValueStore[string, string]]("names", 0)
	must(t, err)
	if n, _, _ := s.Get("u2"); n != "Bob" {
		t.Errorf("global store holds %q for u2", n)
	}
}
