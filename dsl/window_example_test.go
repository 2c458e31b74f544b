package dsl_test

import (
	"fmt"
	"log"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// Page views per page per minute, emitted once per window when it closes, with the
// views that arrive too late sent to a topic of their own.
func ExampleTimeWindowedStream_Count() {
	b := dsl.NewBuilder()
	var late dsl.Stream[string, string]
	b.Stream("views", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		GroupByKey().
		WindowedBy(dsl.TimeWindowsOf(time.Minute).Grace(10 * time.Second)).
		WithLateRecords(&late).
		Count(dsl.EmitOnWindowClose()).
		ToStream().
		To("views-per-minute")
	late.To("late-views")
	top, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}

	d, err := testdriver.New(top, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	views, _ := d.CreateInputTopic("views", serde.String(), serde.String())
	counts, _ := d.CreateOutputTopic("views-per-minute", serde.TimeWindowedKey(serde.String(), 60_000), serde.Nullable(serde.Int64()))
	lates, _ := d.CreateOutputTopic("late-views", serde.String(), serde.String())
	for _, v := range []struct {
		page string
		at   time.Duration
	}{{"/home", 5 * time.Second}, {"/docs", 20 * time.Second}, {"/home", 65 * time.Second}, {"/home", 50 * time.Second}, {"/docs", 80 * time.Second}, {"/home", 30 * time.Second}} {
		_ = views.PipeRecord(runtime.Record[string, string]{Key: v.page, Value: "view", Timestamp: v.at.Milliseconds()})
	}
	for !counts.IsEmpty() {
		kv, _ := counts.ReadKeyValue()
		fmt.Printf("%s [%ds, %ds): %d\n", kv.Key.Key, kv.Key.Start/1000, kv.Key.End/1000, *kv.Value)
	}
	for !lates.IsEmpty() {
		kv, _ := lates.ReadKeyValue()
		fmt.Println("late:", kv.Key)
	}
	// Output:
	// /docs [0s, 60s): 1
	// /home [0s, 60s): 2
	// late: /home
}
