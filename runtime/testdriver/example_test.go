package testdriver_test

import (
	"fmt"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// countByWord builds a word count by hand with the Processor API: lines keyed by user
// are re-keyed by word through the repartition topic "by-word", so that each word is
// counted by the one task owning its partition, in the store "counts".
func countByWord() (*runtime.Topology, error) {
	top := runtime.NewTopology()
	rep := top.InternalTopic("by-word")
	rekey := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		return ctx.Forward(runtime.Record[string, string]{Key: r.Value, Value: r.Value, Timestamp: r.Timestamp})
	})
	count := runtime.ProcessorFunc[string, string, string, int64](func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, string]) error {
		store, err := runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, "counts")
		if err != nil {
			return err
		}
		n, _, err := store.Get(r.Key)
		if err != nil {
			return err
		}
		if err := store.Put(r.Key, n+1); err != nil {
			return err
		}
		return ctx.Forward(runtime.Record[string, int64]{Key: r.Key, Value: n + 1, Timestamp: r.Timestamp})
	})
	for _, err := range []error{
		top.AddRepartitionTopic("by-word", 0),
		top.AddSource("lines", runtime.SourceConfig[string, string]{Topics: []string{"lines"}, Keys: serde.String(), Values: serde.String()}),
		top.AddProcessor("rekey", rekey.Supplier(), "lines"),
		top.AddSink("to-by-word", runtime.SinkConfig[string, string]{Topic: rep, Keys: serde.String(), Values: serde.String()}, "rekey"),
		top.AddSource("by-word", runtime.SourceConfig[string, string]{Topics: []string{rep}, Keys: serde.String(), Values: serde.String()}),
		top.AddProcessor("count", count.Supplier(), "by-word"),
		top.AddStateStore(runtime.KeyValueStoreBuilder("counts", serde.String(), serde.Int64(), runtime.StoreOptions{Logging: true}), "count"),
		top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "word-counts", Keys: serde.String(), Values: serde.Int64()}, "count"),
	} {
		if err != nil {
			return nil, err
		}
	}
	return top, nil
}

// A word count over an input topic with four partitions: each piped record is routed
// by its key, re-keyed, sent through the repartition topic to the task owning the word,
// and counted before PipeInput returns.
func Example() {
	top, err := countByWord()
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := testdriver.New(top, testdriver.Config{Partitions: map[string]int32{"lines": 4}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println("tasks:", d.TaskIDs())

	lines, _ := d.CreateInputTopic("lines", serde.String(), serde.String())
	counts, _ := d.CreateOutputTopic("word-counts", serde.String(), serde.Int64())
	for _, kv := range [][2]string{{"ann", "to"}, {"bob", "be"}, {"cy", "or"}, {"ann", "not"}, {"dee", "to"}, {"eve", "be"}} {
		if err := lines.PipeInput(kv[0], kv[1]); err != nil {
			fmt.Println(err)
			return
		}
	}
	for !counts.IsEmpty() {
		kv, _ := counts.ReadKeyValue()
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// tasks: [0_0 0_1 0_2 0_3 1_0 1_1 1_2 1_3]
	// to 1
	// be 1
	// or 1
	// not 1
	// to 2
	// be 2
}

// Stores are read across all tasks, or one task's store is taken by partition.
func ExampleDriver_ReadKeyValueStore() {
	top, _ := countByWord()
	d, _ := testdriver.New(top, testdriver.Config{Partitions: map[string]int32{"lines": 2}})
	defer d.Close()
	lines, _ := d.CreateInputTopic("lines", serde.String(), serde.String())
	_ = lines.PipeInput("ann", "hello")
	_ = lines.PipeInput("bob", "hello")
	_ = lines.PipeInput("cy", "world")

	counts, _ := d.ReadKeyValueStore[string, int64]("counts")
	n, found, _ := counts.Get("hello")
	fmt.Println("hello:", n, found)

	p := runtime.DefaultPartition([]byte("world"), 2)
	store, _ := d.GetStore[*state.KeyValueStore[string, int64]]("counts", p)
	n, found, _ = store.Get("world")
	fmt.Println("world:", n, found)
	// Output:
	// hello: 2 true
	// world: 1 true
}

// Changelog topics are kept in memory and read like output topics, partition and all.
func ExampleOutputTopic_ReadOutputRecord() {
	top, _ := countByWord()
	d, _ := testdriver.New(top, testdriver.Config{Partitions: map[string]int32{"lines": 2}})
	defer d.Close()
	lines, _ := d.CreateInputTopic("lines", serde.String(), serde.String(),
		testdriver.WithStartTime(time.UnixMilli(1000)), testdriver.WithAutoAdvance(time.Second))
	_ = lines.PipeKeyValues(
		testdriver.KeyValue[string, string]{Key: "ann", Value: "hello"},
		testdriver.KeyValue[string, string]{Key: "bob", Value: "hello"},
	)
	changelog, _ := d.CreateOutputTopic(runtime.ChangelogTopic(testdriver.DefaultApplicationID, "counts"), serde.String(), serde.Int64())
	for !changelog.IsEmpty() {
		r, _ := changelog.ReadOutputRecord()
		fmt.Printf("%s partition %d offset %d: %s=%d at %d\n", r.Topic, r.Partition, r.Offset, r.Record.Key, r.Record.Value, r.Record.Timestamp)
	}
	// Output:
	// test-app-counts-changelog partition 1 offset 0: hello=1 at 1000
	// test-app-counts-changelog partition 1 offset 1: hello=2 at 2000
}

// ticks is a processor that emits the wall-clock time every minute.
type ticks struct{}

func (ticks) Init(ctx runtime.ProcessorContext[string, string]) error {
	_, err := ctx.Schedule(time.Minute, runtime.WallClockTime, func(now int64) error {
		return ctx.Forward(runtime.Record[string, string]{Key: "tick", Value: time.UnixMilli(now).UTC().Format(time.TimeOnly), Timestamp: now})
	})
	return err
}
func (ticks) Process(runtime.Record[string, string]) error { return nil }
func (ticks) Close() error                                 { return nil }

// The wall clock is mocked and moves only when the test says.
func ExampleDriver_AdvanceWallClockTime() {
	top := runtime.NewTopology()
	_ = top.AddSource("in", runtime.SourceConfig[string, string]{Topics: []string{"in"}, Keys: serde.String(), Values: serde.String()})
	_ = top.AddProcessor("ticks", func() runtime.Processor[string, string, string, string] { return ticks{} }, "in")
	_ = top.AddSink("out", runtime.SinkConfig[string, string]{Topic: "ticks", Keys: serde.String(), Values: serde.String()}, "ticks")
	d, _ := testdriver.New(top, testdriver.Config{InitialWallClock: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)})
	defer d.Close()
	out, _ := d.CreateOutputTopic("ticks", serde.String(), serde.String())

	_ = d.AdvanceWallClockTime(30 * time.Second)
	fmt.Println("after 30s:", out.QueueSize(), "ticks")
	_ = d.AdvanceWallClockTime(30 * time.Second)
	v, _ := out.ReadValue()
	fmt.Println("after 60s:", v)
	// Output:
	// after 30s: 0 ticks
	// after 60s: 12:01:00
}
