package testdriver_test

import (
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newDriver starts a driver for top and closes it when the test ends.
func newDriver(t testing.TB, top *runtime.Topology, cfg testdriver.Config) *testdriver.Driver {
	t.Helper()
	d, err := testdriver.New(top, cfg)
	must(t, err)
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d
}

func strings() serde.Serde[string] { return serde.String() }

// passThrough is a topology "in" -> proc -> "out" over strings, where proc applies f.
func passThrough(t testing.TB, f runtime.ProcessorFunc[string, string, string, string]) *runtime.Topology {
	t.Helper()
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"in"}, Keys: strings(), Values: strings()}))
	must(t, top.AddProcessor("proc", f.Supplier(), "src"))
	must(t, top.AddSink("sink", runtime.SinkConfig[string, string]{Topic: "out", Keys: strings(), Values: strings()}, "proc"))
	return top
}

func forward(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
	return ctx.Forward(r)
}

// wordCount is the repartition hop: "lines" keyed by user with a word as value is
// re-keyed by word, written to the repartition topic "by-word", and counted in the
// logged store "counts"; counts go to "counts-out".
func wordCount(t testing.TB, opts runtime.StoreOptions) *runtime.Topology {
	t.Helper()
	top := runtime.NewTopology()
	rep := top.InternalTopic("by-word")
	must(t, top.AddRepartitionTopic("by-word", 0))
	must(t, top.AddSource("lines", runtime.SourceConfig[string, string]{Topics: []string{"lines"}, Keys: strings(), Values: strings()}))
	rekey := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		return ctx.Forward(runtime.Record[string, string]{Key: r.Value, Value: r.Value, Timestamp: r.Timestamp})
	})
	must(t, top.AddProcessor("rekey", rekey.Supplier(), "lines"))
	must(t, top.AddSink("to-by-word", runtime.SinkConfig[string, string]{Topic: rep, Keys: strings(), Values: strings()}, "rekey"))
	must(t, top.AddSource("by-word", runtime.SourceConfig[string, string]{Topics: []string{rep}, Keys: strings(), Values: strings()}))
	count := runtime.ProcessorFunc[string, string, string, int64](func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, string]) error {
		store, err := runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, "counts")
		if err != nil {
			return err
		}
		n, _, err := store.Get(r.Key)
		if err != nil {
			return err
		}
		n++
		if err := store.Put(r.Key, n); err != nil {
			return err
		}
		return ctx.Forward(runtime.Record[string, int64]{Key: r.Key, Value: n, Timestamp: r.Timestamp})
	})
	must(t, top.AddProcessor("count", count.Supplier(), "by-word"))
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("counts", strings(), serde.Int64(), opts), "count"))
	must(t, top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "counts-out", Keys: strings(), Values: serde.Int64()}, "count"))
	return top
}

// tasks returns the IDs of sub-topology sub's tasks for n partitions.
func tasks(sub int, n int32) []runtime.TaskID {
	var out []runtime.TaskID
	for p := range n {
		out = append(out, runtime.TaskID{Subtopology: sub, Partition: p})
	}
	return out
}
