package runtime_test

import (
	"strconv"
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// BenchmarkTaskStatelessChain measures the per-record cost of the task engine on a
// stateless chain (source, map values, filter, sink, with string serdes) as the test
// driver runs it: records added in batches, processed one by one, sent to a collector
// that drops them. The goal is at least 1M records/s.
func BenchmarkTaskStatelessChain(b *testing.B) {
	top := runtime.NewTopology()
	must(b, top.AddSource("src", strSource("in")))
	mapValues := runtime.ProcessorFunc[string, string, string, int](func(ctx runtime.ProcessorContext[string, int], r runtime.Record[string, string]) error {
		return ctx.Forward(runtime.WithValue(r, len(r.Value)))
	})
	must(b, top.AddProcessor("map", mapValues.Supplier(), "src"))
	filter := runtime.ProcessorFunc[string, int, string, int](func(ctx runtime.ProcessorContext[string, int], r runtime.Record[string, int]) error {
		if r.Value%2 == 0 {
			return nil
		}
		return ctx.Forward(r)
	})
	must(b, top.AddProcessor("filter", filter.Supplier(), "map"))
	toString := runtime.ProcessorFunc[string, int, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, int]) error {
		return ctx.Forward(runtime.WithValue(r, r.Key))
	})
	must(b, top.AddProcessor("back", toString.Supplier(), "filter"))
	must(b, top.AddSink("out", strSink("out"), "back"))

	var sent int
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "bench", Output: runtime.RecordCollectorFunc(func(runtime.ProducedRecord) error {
		sent++
		return nil
	})})
	must(b, err)
	defer task.Close()

	const batch = 1000
	recs := make([]runtime.ConsumedRecord, batch)
	for i := range recs {
		recs[i] = runtime.ConsumedRecord{Topic: "in", Key: []byte("key-" + strconv.Itoa(i)), Value: []byte("value-" + strconv.Itoa(i%7)), Timestamp: int64(i)}
	}
	_ = serde.String()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		for i := range n {
			recs[i].Offset = int64(done + i)
		}
		task.Add(recs[:n])
		for {
			ok, err := task.Process()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if sent == 0 {
		b.Fatal("nothing reached the sink")
	}
}
