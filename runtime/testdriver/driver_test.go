package testdriver_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// Records go to the partition their key hashes to, one task per partition processes
// each, and the sink's output lands on the partition its key hashes to in the output
// topic, whatever its partition count.
func TestMultiPartitionRoutingByKey(t *testing.T) {
	type seen struct {
		key       string
		task      runtime.TaskID
		partition int32
		offset    int64
	}
	var got []seen
	top := passThrough(t, func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		md, ok := ctx.RecordMetadata()
		if !ok {
			return errors.New("no metadata")
		}
		got = append(got, seen{r.Key, ctx.TaskID(), md.Partition, md.Offset})
		return ctx.Forward(r)
	})
	d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"in": 4, "out": 3}})
	if ids := d.TaskIDs(); !slices.Equal(ids, tasks(0, 4)) {
		t.Fatalf("tasks %v, want 0_0..0_3", ids)
	}
	in, err := d.CreateInputTopic("in", strings(), strings())
	must(t, err)
	if in.Partitions() != 4 {
		t.Fatalf("input has %d partitions", in.Partitions())
	}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "a", "b"}
	for _, k := range keys {
		must(t, in.PipeInput(k, "v-"+k))
	}
	if len(got) != len(keys) {
		t.Fatalf("processed %d records, want %d", len(got), len(keys))
	}
	next := map[int32]int64{}
	partitions := map[int32]bool{}
	for i, s := range got {
		want := runtime.DefaultPartition([]byte(keys[i]), 4)
		if s.key != keys[i] || s.partition != want || s.task != (runtime.TaskID{Subtopology: 0, Partition: want}) {
			t.Errorf("record %d: %+v, want key %q in partition and task %d", i, s, keys[i], want)
		}
		if s.offset != next[s.partition] {
			t.Errorf("record %d: offset %d, want %d", i, s.offset, next[s.partition])
		}
		next[s.partition]++
		partitions[s.partition] = true
	}
	if len(partitions) < 2 {
		t.Errorf("all keys hashed to %v; pick keys that spread", partitions)
	}
	// An explicit partition wins over the key's hash.
	forced := (runtime.DefaultPartition([]byte("a"), 4) + 1) % 4
	must(t, in.PipeRecordAt(forced, runtime.Record[string, string]{Key: "a", Value: "forced"}))
	if last := got[len(got)-1]; last.partition != forced || last.task.Partition != forced {
		t.Errorf("record piped to partition %d was processed as %+v", forced, last)
	}
	keys = append(keys, "a")

	out, err := d.CreateOutputTopic("out", strings(), strings())
	must(t, err)
	recs, err := out.ReadOutputRecordsToList()
	must(t, err)
	for i, r := range recs {
		if want := runtime.DefaultPartition([]byte(keys[i]), 3); r.Partition != want || r.Record.Key != keys[i] {
			t.Errorf("output %d: key %q partition %d, want %q in %d", i, r.Record.Key, r.Partition, keys[i], want)
		}
	}
}

// A task whose source reads two topics takes, among its queued records, the head with
// the smallest timestamp first (Kafka Streams' PartitionGroup), and stream time is the
// largest timestamp processed.
func TestTimestampOrderWithinTask(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"a", "b"}, Keys: strings(), Values: strings()}))
	must(t, top.AddProcessor("proc", runtime.ProcessorFunc[string, string, string, string](forward).Supplier(), "src"))
	must(t, top.AddSink("sink", runtime.SinkConfig[string, string]{Topic: "out", Keys: strings(), Values: strings()}, "proc"))
	d := newDriver(t, top, testdriver.Config{})
	a, err := d.CreateInputTopic("a", strings(), strings())
	must(t, err)
	b, err := d.CreateInputTopic("b", strings(), strings())
	must(t, err)
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	must(t, d.Batch(func() error {
		return errors.Join(
			a.PipeInputAt("k", "a30", at(30)),
			a.PipeInputAt("k", "a40", at(40)),
			b.PipeInputAt("k", "b10", at(10)),
			b.PipeInputAt("k", "b35", at(35)),
		)
	}))
	out, err := d.CreateOutputTopic("out", strings(), strings())
	must(t, err)
	vals, err := out.ReadValuesToList()
	must(t, err)
	if want := []string{"b10", "a30", "b35", "a40"}; !slices.Equal(vals, want) {
		t.Errorf("processed %v, want %v", vals, want)
	}
	st, err := d.StreamTime(runtime.TaskID{})
	must(t, err)
	if st != 40 {
		t.Errorf("stream time %d, want 40", st)
	}
	// Outside a batch each record is processed as it arrives, whatever its timestamp.
	must(t, b.PipeInputAt("k", "b5", at(5)))
	must(t, a.PipeInputAt("k", "a1", at(1)))
	vals, err = out.ReadValuesToList()
	must(t, err)
	if want := []string{"b5", "a1"}; !slices.Equal(vals, want) {
		t.Errorf("processed %v, want %v", vals, want)
	}
}

// The repartition hop: records re-keyed in sub-topology 0 travel through the in-memory
// repartition topic to the task of sub-topology 1 owning the new key's partition,
// which counts them in its store; changelog writes are kept per partition.
func TestRepartitionHop(t *testing.T) {
	d := newDriver(t, wordCount(t, runtime.StoreOptions{Logging: true}), testdriver.Config{Partitions: map[string]int32{"lines": 3}})
	want := append(tasks(0, 3), tasks(1, 3)...)
	if ids := d.TaskIDs(); !slices.Equal(ids, want) {
		t.Fatalf("tasks %v, want %v", ids, want)
	}
	lines, err := d.CreateInputTopic("lines", strings(), strings())
	must(t, err)
	input := []testdriver.KeyValue[string, string]{
		{Key: "ann", Value: "apple"}, {Key: "bob", Value: "apple"}, {Key: "cy", Value: "pear"},
		{Key: "dee", Value: "fig"}, {Key: "ann", Value: "pear"}, {Key: "eve", Value: "apple"},
	}
	must(t, lines.PipeKeyValues(input...))

	out, err := d.CreateOutputTopic("counts-out", strings(), serde.Int64())
	must(t, err)
	got, err := out.ReadKeyValuesToList()
	must(t, err)
	wantOut := []testdriver.KeyValue[string, int64]{
		{Key: "apple", Value: 1}, {Key: "apple", Value: 2}, {Key: "pear", Value: 1},
		{Key: "fig", Value: 1}, {Key: "pear", Value: 2}, {Key: "apple", Value: 3},
	}
	if !slices.Equal(got, wantOut) {
		t.Errorf("counts %v, want %v", got, wantOut)
	}

	rep, err := d.CreateOutputTopic(runtime.RepartitionTopic("test-app", "by-word"), strings(), strings())
	must(t, err)
	if rep.Partitions() != 3 {
		t.Errorf("repartition topic has %d partitions, want 3 like its upstream", rep.Partitions())
	}
	reps, err := rep.ReadOutputRecordsToList()
	must(t, err)
	if len(reps) != len(input) {
		t.Fatalf("%d repartition records, want %d", len(reps), len(input))
	}
	for _, r := range reps {
		if want := runtime.DefaultPartition([]byte(r.Record.Key), 3); r.Partition != want {
			t.Errorf("repartition record %q in partition %d, want %d", r.Record.Key, r.Partition, want)
		}
	}

	view, err := d.ReadKeyValueStore[string, int64]("counts")
	must(t, err)
	for word, n := range map[string]int64{"apple": 3, "pear": 2, "fig": 1} {
		got, found, err := view.Get(word)
		must(t, err)
		if !found || got != n {
			t.Errorf("store %q = %d (found %v), want %d", word, got, found, n)
		}
		p := runtime.DefaultPartition([]byte(word), 3)
		s, err := d.GetStore[*state.KeyValueStore[string, int64]]("counts", p)
		must(t, err)
		if got, _, err := s.Get(word); err != nil || got != n {
			t.Errorf("partition %d store %q = %d (%v), want %d", p, word, got, err, n)
		}
	}
	all, err := view.All()
	must(t, err)
	if len(all) != 3 || view.Partitions() != 3 {
		t.Errorf("store holds %v over %d partitions", all, view.Partitions())
	}

	changelog, err := d.CreateOutputTopic(runtime.ChangelogTopic("test-app", "counts"), strings(), serde.Int64())
	must(t, err)
	cl, err := changelog.ReadOutputRecordsToList()
	must(t, err)
	if len(cl) != len(input) {
		t.Fatalf("%d changelog records, want %d", len(cl), len(input))
	}
	for _, r := range cl {
		if want := runtime.DefaultPartition([]byte(r.Record.Key), 3); r.Partition != want {
			t.Errorf("changelog record %q in partition %d, want the task's %d", r.Record.Key, r.Partition, want)
		}
	}
}

// A caching store merges writes until the task commits. The driver commits after each
// piped record, so every record's update reaches the changelog, while a Batch commits
// once at its end and the cache merges the batch's writes to one key.
func TestCommitAfterEachRecordFlushesCaches(t *testing.T) {
	d := newDriver(t, wordCount(t, runtime.StoreOptions{Logging: true, Caching: true}), testdriver.Config{})
	lines, err := d.CreateInputTopic("lines", strings(), strings())
	must(t, err)
	changelog, err := d.CreateOutputTopic(runtime.ChangelogTopic("test-app", "counts"), strings(), serde.Int64())
	must(t, err)
	must(t, lines.PipeInput("ann", "apple"))
	must(t, lines.PipeInput("bob", "apple"))
	got, err := changelog.ReadKeyValuesToList()
	must(t, err)
	if want := []testdriver.KeyValue[string, int64]{{Key: "apple", Value: 1}, {Key: "apple", Value: 2}}; !slices.Equal(got, want) {
		t.Errorf("changelog %v, want %v", got, want)
	}
	must(t, d.Batch(func() error {
		return errors.Join(lines.PipeInput("cy", "apple"), lines.PipeInput("dee", "apple"))
	}))
	got, err = changelog.ReadKeyValuesToList()
	must(t, err)
	if want := []testdriver.KeyValue[string, int64]{{Key: "apple", Value: 4}}; !slices.Equal(got, want) {
		t.Errorf("changelog after a batch %v, want %v", got, want)
	}
}

// Wall-clock punctuators fire only as the mocked clock moves, on an interval aligned to
// when they were scheduled, skipping intervals missed in one jump.
func TestWallClockPunctuation(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"in"}, Keys: strings(), Values: strings()}))
	must(t, top.AddProcessor("ticker", func() runtime.Processor[string, string, string, string] { return &ticker{} }, "src"))
	must(t, top.AddSink("sink", runtime.SinkConfig[string, string]{Topic: "ticks", Keys: strings(), Values: strings()}, "ticker"))
	start := time.UnixMilli(1_000_000)
	d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"in": 2}, InitialWallClock: start})
	ticks, err := d.CreateOutputTopic("ticks", strings(), strings())
	must(t, err)

	steps := []struct {
		advance time.Duration
		want    []string // one tick per task
	}{
		{5 * time.Second, nil},
		{5 * time.Second, []string{"0_0@1010000", "0_1@1010000"}},
		{9 * time.Second, nil},
		{31 * time.Second, []string{"0_0@1050000", "0_1@1050000"}},
		{10 * time.Second, []string{"0_0@1060000", "0_1@1060000"}},
	}
	for i, s := range steps {
		must(t, d.AdvanceWallClockTime(s.advance))
		got, err := ticks.ReadValuesToList()
		must(t, err)
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d (+%v): ticks %v, want %v", i, s.advance, got, s.want)
		}
	}
	if got := d.WallClockTime(); !got.Equal(start.Add(60 * time.Second)) {
		t.Errorf("wall clock %v", got)
	}
	if n := d.TaskMetrics()[runtime.TaskID{Subtopology: 0, Partition: 1}].WallClockPunctuations; n != 3 {
		t.Errorf("%d wall-clock punctuations in task 0_1, want 3", n)
	}
	if err := d.AdvanceWallClockTime(-time.Second); err == nil {
		t.Error("wall clock went back")
	}
}

// ticker forwards "<task>@<time>" every 10 s of wall-clock time.
type ticker struct{}

func (*ticker) Init(ctx runtime.ProcessorContext[string, string]) error {
	_, err := ctx.Schedule(10*time.Second, runtime.WallClockTime, func(now int64) error {
		return ctx.Forward(runtime.Record[string, string]{Key: "tick", Value: fmt.Sprintf("%s@%d", ctx.TaskID(), now), Timestamp: now})
	})
	return err
}
func (*ticker) Process(runtime.Record[string, string]) error { return nil }
func (*ticker) Close() error                                 { return nil }

// Stream-time punctuators fire from the piped records' timestamps, not the wall clock.
func TestStreamTimePunctuation(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"in"}, Keys: strings(), Values: strings()}))
	proc := func() runtime.Processor[string, string, string, string] { return &streamTicker{} }
	must(t, top.AddProcessor("ticker", proc, "src"))
	must(t, top.AddSink("sink", runtime.SinkConfig[string, string]{Topic: "ticks", Keys: strings(), Values: strings()}, "ticker"))
	d := newDriver(t, top, testdriver.Config{})
	in, err := d.CreateInputTopic("in", strings(), strings(), testdriver.WithStartTime(time.UnixMilli(0)), testdriver.WithAutoAdvance(4*time.Second))
	must(t, err)
	for range 6 { // timestamps 0, 4, 8, 12, 16, 20 s
		must(t, in.PipeInput("k", "v"))
	}
	ticks, err := d.CreateOutputTopic("ticks", strings(), strings())
	must(t, err)
	got, err := ticks.ReadValuesToList()
	must(t, err)
	if want := []string{"0", "12000", "20000"}; !slices.Equal(got, want) {
		t.Errorf("ticks %v, want %v", got, want)
	}
}

type streamTicker struct{}

func (*streamTicker) Init(ctx runtime.ProcessorContext[string, string]) error {
	_, err := ctx.Schedule(10*time.Second, runtime.StreamTime, func(ts int64) error {
		return ctx.Forward(runtime.Record[string, string]{Key: "tick", Value: fmt.Sprint(ts), Timestamp: ts})
	})
	return err
}
func (*streamTicker) Process(runtime.Record[string, string]) error { return nil }
func (*streamTicker) Close() error                                 { return nil }

// A sink writing an external topic that another sub-topology reads feeds that
// sub-topology's tasks, partition by partition, as a broker would; the topic keeps
// what was written for reading too.
func TestExternalTopicReadBack(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, string]{Topics: []string{"in"}, Keys: strings(), Values: strings()}))
	swap := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		return ctx.Forward(runtime.Record[string, string]{Key: r.Value, Value: r.Value + "!", Timestamp: r.Timestamp})
	})
	must(t, top.AddProcessor("swap", swap.Supplier(), "src"))
	must(t, top.AddSink("to-mid", runtime.SinkConfig[string, string]{Topic: "mid", Keys: strings(), Values: strings()}, "swap"))
	var seen []string
	record := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		seen = append(seen, fmt.Sprintf("%s:%s@%s", r.Key, r.Value, ctx.TaskID()))
		return nil
	})
	must(t, top.AddSource("mid-src", runtime.SourceConfig[string, string]{Topics: []string{"mid"}, Keys: strings(), Values: strings()}))
	must(t, top.AddProcessor("record", record.Supplier(), "mid-src"))
	d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"mid": 2}})
	if ids := d.TaskIDs(); !slices.Equal(ids, append(tasks(0, 1), tasks(1, 2)...)) {
		t.Fatalf("tasks %v", ids)
	}
	in, err := d.CreateInputTopic("in", strings(), strings())
	must(t, err)
	var want []string
	for _, v := range []string{"x", "y", "z"} {
		must(t, in.PipeInput("k", v))
		want = append(want, fmt.Sprintf("%s:%s!@1_%d", v, v, runtime.DefaultPartition([]byte(v), 2)))
	}
	if !slices.Equal(seen, want) {
		t.Errorf("read back %v, want %v", seen, want)
	}
	mid, err := d.CreateOutputTopic("mid", strings(), strings())
	must(t, err)
	if mid.QueueSize() != 3 {
		t.Errorf("mid holds %d records", mid.QueueSize())
	}
}

// Batch processes what was piped inside it even when its function fails, and
// returns that failure.
func TestBatchError(t *testing.T) {
	d := newDriver(t, passThrough(t, forward), testdriver.Config{})
	in, err := d.CreateInputTopic("in", strings(), strings())
	must(t, err)
	boom := errors.New("boom")
	if err := d.Batch(func() error {
		must(t, in.PipeInput("k", "v"))
		if err := d.Batch(func() error { return nil }); err == nil {
			t.Error("nested batch accepted")
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("batch: %v", err)
	}
	out, err := d.CreateOutputTopic("out", strings(), strings())
	must(t, err)
	if out.QueueSize() != 1 {
		t.Errorf("%d records out of the failed batch, want 1", out.QueueSize())
	}
}
