package runtime_test

import (
	"fmt"
	"strings"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// A word count written with the Processor API: one processor splits lines into words,
// another counts them in a logged store and forwards each new count to a sink. The
// task engine runs it here with no broker; the runtime and the test driver run the
// same engine against topics.
func Example_wordCount() {
	top := runtime.NewTopology()
	check := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	check(top.AddSource("lines", runtime.SourceConfig[string, string]{
		Topics: []string{"text"}, Keys: serde.String(), Values: serde.String(),
	}))
	split := runtime.ProcessorFunc[string, string, string, string](
		func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
			for _, w := range strings.Fields(strings.ToLower(r.Value)) {
				if err := ctx.Forward(runtime.Record[string, string]{Key: w, Value: w, Timestamp: r.Timestamp}); err != nil {
					return err
				}
			}
			return nil
		})
	check(top.AddProcessor("split", split.Supplier(), "lines"))
	count := runtime.ProcessorFunc[string, string, string, int64](
		func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, string]) error {
			counts, err := runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, "counts")
			if err != nil {
				return err
			}
			n, _, err := counts.Get(r.Key)
			if err != nil {
				return err
			}
			if err := counts.Put(r.Key, n+1); err != nil {
				return err
			}
			return ctx.Forward(runtime.WithValue(r, n+1))
		})
	check(top.AddProcessor("count", count.Supplier(), "split"))
	check(top.AddStateStore(runtime.KeyValueStoreBuilder("counts", serde.String(), serde.Int64(),
		runtime.StoreOptions{Logging: true}), "count"))
	check(top.AddSink("counts-out", runtime.SinkConfig[string, int64]{
		Topic: "word-counts", Keys: serde.String(), Values: serde.Int64(),
	}, "count"))

	output := runtime.RecordCollectorFunc(func(r runtime.ProducedRecord) error {
		n, err := serde.Int64().Decode(r.Value)
		if err != nil {
			return err
		}
		if r.Topic == "word-counts" {
			fmt.Printf("%s: %s=%d\n", r.Topic, r.Key, n)
		}
		return nil
	})
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "wordcount", Output: output})
	check(err)
	defer task.Close()

	task.Add([]runtime.ConsumedRecord{
		{Topic: "text", Offset: 0, Value: []byte("Hello streams"), Timestamp: 1000},
		{Topic: "text", Offset: 1, Value: []byte("hello Go"), Timestamp: 2000},
	})
	for {
		more, err := task.Process()
		check(err)
		if !more {
			break
		}
	}
	offsets, err := task.Commit()
	check(err)
	fmt.Println("commit", offsets)
	// Output:
	// word-counts: hello=1
	// word-counts: streams=1
	// word-counts: hello=2
	// word-counts: go=1
	// commit map[text-0:2]
}

func ExampleTopology_Describe() {
	top := runtime.NewTopology()
	_ = top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"input"}, Keys: serde.String(), Values: serde.String()})
	_ = top.AddSink("sink", runtime.SinkConfig[string, string]{Topic: "output", Keys: serde.String(), Values: serde.String()}, "src")
	fmt.Print(top.Describe())
	// Output:
	// Topologies:
	//    Sub-topology: 0
	//     Source: src (topics: [input])
	//       --> sink
	//     Sink: sink (topic: output)
	//       <-- src
}
