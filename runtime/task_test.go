package runtime_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// seen is what the recording processor saw of one record.
type seen struct {
	key        string
	ts         int64
	streamTime int64
	meta       runtime.RecordMetadata
}

// recorder records every record it gets, with the task's view at that moment, and
// forwards it.
type recorder struct {
	ctx  runtime.ProcessorContext[string, string]
	seen *[]seen
	init func(ctx runtime.ProcessorContext[string, string]) error
}

func (p *recorder) Init(ctx runtime.ProcessorContext[string, string]) error {
	p.ctx = ctx
	if p.init != nil {
		return p.init(ctx)
	}
	return nil
}

func (p *recorder) Process(r runtime.Record[string, string]) error {
	m, _ := p.ctx.RecordMetadata()
	*p.seen = append(*p.seen, seen{key: r.Key, ts: r.Timestamp, streamTime: p.ctx.StreamTime(), meta: m})
	return p.ctx.Forward(r)
}

func (p *recorder) Close() error { return nil }

// recordingTask builds source(topics) -> rec -> sink "out" and a task over partition 0
// of every topic.
func recordingTask(t *testing.T, cfg runtime.TaskConfig, init func(runtime.ProcessorContext[string, string]) error, topics ...string) (*runtime.Task, *[]seen, *collector) {
	t.Helper()
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource(topics...)))
	var log []seen
	must(t, top.AddProcessor("rec", func() runtime.Processor[string, string, string, string] {
		return &recorder{seen: &log, init: init}
	}, "src"))
	must(t, top.AddSink("out", strSink("out"), "rec"))
	out := &collector{}
	cfg.ApplicationID = "app"
	if cfg.Output == nil {
		cfg.Output = out
	}
	task, err := runtime.NewTask(top, cfg)
	must(t, err)
	t.Cleanup(func() { must(t, task.Close()) })
	return task, &log, out
}

func TestTaskTimestampOrder(t *testing.T) {
	task, log, _ := recordingTask(t, runtime.TaskConfig{}, nil, "a", "b", "c")
	task.Add([]runtime.ConsumedRecord{
		rec("a", 0, 0, "a0", "", 5), rec("a", 0, 1, "a1", "", 1), rec("a", 0, 2, "a2", "", 9),
		rec("b", 0, 0, "b0", "", 3), rec("b", 0, 1, "b1", "", 4),
		rec("c", 0, 0, "c0", "", 2), rec("c", 0, 1, "c1", "", 2),
	})
	if n := task.Buffered(runtime.TopicPartition{Topic: "a", Partition: 0}); n != 3 {
		t.Fatalf("Buffered(a-0) = %d, want 3", n)
	}
	drain(t, task)
	// The smallest head first; an out-of-order record within a partition (a1 at 1)
	// waits for its turn and does not move stream time back.
	want := []seen{
		{"c0", 2, 2, runtime.RecordMetadata{Topic: "c", Offset: 0}},
		{"c1", 2, 2, runtime.RecordMetadata{Topic: "c", Offset: 1}},
		{"b0", 3, 3, runtime.RecordMetadata{Topic: "b", Offset: 0}},
		{"b1", 4, 4, runtime.RecordMetadata{Topic: "b", Offset: 1}},
		{"a0", 5, 5, runtime.RecordMetadata{Topic: "a", Offset: 0}},
		{"a1", 1, 5, runtime.RecordMetadata{Topic: "a", Offset: 1}},
		{"a2", 9, 9, runtime.RecordMetadata{Topic: "a", Offset: 2}},
	}
	if !slices.Equal(*log, want) {
		t.Fatalf("got  %v\nwant %v", *log, want)
	}
	if task.StreamTime() != 9 {
		t.Errorf("StreamTime = %d, want 9", task.StreamTime())
	}
	if m := task.Metrics(); m.Processed != 7 {
		t.Errorf("Processed = %d, want 7", m.Processed)
	}
}

func TestTaskTimestampTiesGoInAddOrder(t *testing.T) {
	task, log, _ := recordingTask(t, runtime.TaskConfig{}, nil, "a", "b")
	task.Add([]runtime.ConsumedRecord{rec("b", 0, 0, "b0", "", 7)})
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 0, "a0", "", 7), rec("b", 0, 1, "b1", "", 7)})
	drain(t, task)
	var keys []string
	for _, s := range *log {
		keys = append(keys, s.key)
	}
	if want := []string{"b0", "a0", "b1"}; !slices.Equal(keys, want) {
		t.Fatalf("order %v, want %v", keys, want)
	}
}

func TestTaskMaxTaskIdle(t *testing.T) {
	now := int64(1000)
	cfg := runtime.TaskConfig{MaxTaskIdle: 100 * time.Millisecond, Now: func() int64 { return now }}
	task, log, _ := recordingTask(t, cfg, nil, "a", "b")
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 0, "a0", "", 7)})
	if ok, err := task.Process(); ok || err != nil {
		t.Fatalf("Process with b empty for 0ms = %v, %v; want to wait", ok, err)
	}
	now += 100
	if ok, err := task.Process(); !ok || err != nil {
		t.Fatalf("Process after max idle = %v, %v; want a record", ok, err)
	}
	if len(*log) != 1 {
		t.Fatalf("processed %d records, want 1", len(*log))
	}
}

func TestTaskStreamTimePunctuation(t *testing.T) {
	var fired []int64
	var cancel func()
	init := func(ctx runtime.ProcessorContext[string, string]) error {
		var err error
		cancel, err = ctx.Schedule(10*time.Millisecond, runtime.StreamTime, func(ts int64) error {
			fired = append(fired, ts)
			if _, ok := ctx.RecordMetadata(); ok {
				t.Error("punctuation sees record metadata")
			}
			return ctx.Forward(runtime.Record[string, string]{Key: "tick", Value: strconv.FormatInt(ts, 10), Timestamp: ts})
		})
		return err
	}
	task, _, out := recordingTask(t, runtime.TaskConfig{}, init, "a")
	// Kafka semantics: aligned to multiples of the interval from 0, at most once per
	// record, missed intervals skipped, called with the stream time.
	for i, ts := range []int64{3, 5, 12, 13, 11, 45, 46, 50} {
		task.Add([]runtime.ConsumedRecord{rec("a", 0, int64(i), "k", "", ts)})
		drain(t, task)
	}
	if want := []int64{3, 12, 45, 50}; !slices.Equal(fired, want) {
		t.Fatalf("fired at %v, want %v", fired, want)
	}
	if got := task.Metrics().StreamTimePunctuations; got != 4 {
		t.Errorf("StreamTimePunctuations = %d, want 4", got)
	}
	ticks := 0
	for _, r := range out.recs {
		if string(r.Key) == "tick" {
			ticks++
		}
	}
	if ticks != 4 {
		t.Errorf("%d ticks forwarded to the sink, want 4", ticks)
	}
	cancel()
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 8, "k", "", 100)})
	drain(t, task)
	if len(fired) != 4 {
		t.Errorf("a cancelled punctuator fired: %v", fired)
	}
}

func TestTaskWallClockPunctuation(t *testing.T) {
	now := int64(1000)
	var fired []int64
	init := func(ctx runtime.ProcessorContext[string, string]) error {
		_, err := ctx.Schedule(100*time.Millisecond, runtime.WallClockTime, func(ts int64) error {
			fired = append(fired, ts)
			return nil
		})
		return err
	}
	task, _, _ := recordingTask(t, runtime.TaskConfig{Now: func() int64 { return now }}, init, "a")
	for _, at := range []int64{1050, 1100, 1150, 1450, 1499, 1500} {
		must(t, task.PunctuateWallClock(at))
	}
	if want := []int64{1100, 1450, 1500}; !slices.Equal(fired, want) {
		t.Fatalf("fired at %v, want %v", fired, want)
	}
	// Records do not drive wall-clock punctuators.
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 0, "k", "", 5000)})
	drain(t, task)
	if len(fired) != 3 {
		t.Fatalf("a record fired a wall-clock punctuator: %v", fired)
	}
}

func TestScheduleRejectsBadIntervals(t *testing.T) {
	init := func(ctx runtime.ProcessorContext[string, string]) error {
		_, err := ctx.Schedule(time.Microsecond, runtime.StreamTime, func(int64) error { return nil })
		return err
	}
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource("a")))
	must(t, top.AddProcessor("rec", func() runtime.Processor[string, string, string, string] {
		return &recorder{seen: new([]seen), init: init}
	}, "src"))
	if _, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: &collector{}}); err == nil {
		t.Fatal("NewTask accepted a punctuation interval below 1ms")
	}
}

func TestForwardToNamedChild(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource("in")))
	var unknownErr error
	route := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		unknownErr = ctx.ForwardTo("nope", r)
		return ctx.ForwardTo(r.Value, r)
	})
	must(t, top.AddProcessor("route", route.Supplier(), "src"))
	must(t, top.AddSink("left", strSink("left-topic"), "route"))
	must(t, top.AddSink("right", strSink("right-topic"), "route"))
	out := &collector{}
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: out})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "k1", "right", 1), rec("in", 0, 1, "k2", "left", 2)})
	drain(t, task)
	if got := out.topic("left-topic", str); !slices.Equal(got, []string{"k2=left"}) {
		t.Errorf("left-topic got %v", got)
	}
	if got := out.topic("right-topic", str); !slices.Equal(got, []string{"k1=right"}) {
		t.Errorf("right-topic got %v", got)
	}
	if !errors.Is(unknownErr, runtime.ErrUnknownNode) {
		t.Errorf("ForwardTo an unknown child: %v, want ErrUnknownNode", unknownErr)
	}
}

func TestStoreAccess(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource("in")))
	type result struct {
		own, other, global, missing, wrongType error
	}
	var res result
	check := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		_, res.own = runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, "mine")
		_, res.other = ctx.Store("theirs")
		_, res.global = runtime.GetStore[*state.KeyValueStore[string, string]](ctx, "countries")
		_, res.missing = ctx.Store("nope")
		_, res.wrongType = runtime.GetStore[*state.KeyValueStore[string, string]](ctx, "mine")
		return nil
	})
	must(t, top.AddProcessor("check", check.Supplier(), "src"))
	must(t, top.AddProcessor("other", passThrough[string, string](), "src"))
	must(t, top.AddStateStore(kvStore("mine"), "check"))
	must(t, top.AddStateStore(kvStore("theirs"), "other"))
	g := runtime.KeyValueStoreBuilder("countries", serde.String(), serde.String(), runtime.StoreOptions{})
	must(t, top.AddGlobalStore(g, "countries-src", strSource("countries"), "countries-proc", globalLoader("countries")))

	globals, err := runtime.NewGlobalTask(top, runtime.GlobalTaskConfig{ApplicationID: "app"})
	must(t, err)
	defer globals.Close()
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: &collector{}, Globals: globals})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "k", "v", 1)})
	drain(t, task)

	if res.own != nil || res.global != nil {
		t.Errorf("connected store: %v; global store: %v", res.own, res.global)
	}
	for name, err := range map[string]error{"other processor's": res.other, "missing": res.missing, "wrong type": res.wrongType} {
		if !errors.Is(err, runtime.ErrUnknownStore) {
			t.Errorf("%s store: %v, want ErrUnknownStore", name, err)
		}
	}
	if _, err := runtime.GetStore[*state.KeyValueStore[string, int64]](task, "theirs"); err != nil {
		t.Errorf("Task.Store: %v", err)
	}
}

func TestGlobalTask(t *testing.T) {
	top := runtime.NewTopology()
	g := runtime.KeyValueStoreBuilder("countries", serde.String(), serde.String(), runtime.StoreOptions{})
	must(t, top.AddGlobalStore(g, "countries-src", strSource("countries"), "countries-proc", globalLoader("countries")))
	must(t, top.AddSource("src", strSource("in")))
	var got []string
	lookup := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		countries, err := runtime.GetStore[*state.KeyValueStore[string, string]](ctx, "countries")
		if err != nil {
			return err
		}
		name, _, err := countries.Get(r.Value)
		got = append(got, r.Key+":"+name)
		return err
	})
	must(t, top.AddProcessor("lookup", lookup.Supplier(), "src"))

	provider := state.NewMemoryProvider()
	defer provider.Close()
	globals, err := runtime.NewGlobalTask(top, runtime.GlobalTaskConfig{ApplicationID: "app", MemoryStores: provider})
	must(t, err)
	must(t, globals.Process([]runtime.ConsumedRecord{rec("countries", 0, 0, "fr", "France", 1), rec("countries", 1, 4, "de", "Germany", 1)}))
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", ID: runtime.TaskID{Subtopology: 1}, Output: &collector{}, Globals: globals})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "alice", "fr", 1), rec("in", 0, 1, "bob", "de", 2)})
	drain(t, task)
	if want := []string{"alice:France", "bob:Germany"}; !slices.Equal(got, want) {
		t.Errorf("lookups %v, want %v", got, want)
	}
	offsets, err := globals.Commit()
	must(t, err)
	want := map[runtime.TopicPartition]int64{{Topic: "countries", Partition: 0}: 1, {Topic: "countries", Partition: 1}: 5}
	if fmt.Sprint(offsets) != fmt.Sprint(want) {
		t.Errorf("global offsets %v, want %v", offsets, want)
	}
	must(t, globals.Close())
	engine, err := provider.Open("global", "countries")
	must(t, err)
	defer engine.Close()
	committed, err := engine.CommittedOffsets()
	must(t, err)
	if committed["countries-1"] != 5 {
		t.Errorf("global store committed %v, want countries-1 at 5", committed)
	}
}

// countingTopology counts values per key in a logged store, forwarding each new count
// (or, with caching, on flush).
func countingTopology(t *testing.T, caching bool) *runtime.Topology {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource("in")))
	must(t, top.AddProcessor("count", func() runtime.Processor[string, string, string, int64] {
		return &counter{caching: caching}
	}, "src"))
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("counts", serde.String(), serde.Int64(), runtime.StoreOptions{Logging: true, Caching: caching}), "count"))
	must(t, top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "counts-out", Keys: serde.String(), Values: serde.Int64()}, "count"))
	return top
}

type counter struct {
	caching bool
	name    string // store; "counts" when empty
	ctx     runtime.ProcessorContext[string, int64]
	store   *state.KeyValueStore[string, int64]
}

func (c *counter) Init(ctx runtime.ProcessorContext[string, int64]) error {
	c.ctx = ctx
	var err error
	name := c.name
	if name == "" {
		name = "counts"
	}
	c.store, err = runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, name)
	if err != nil {
		return err
	}
	if c.caching {
		// The cache decides when to emit: one update per key per commit.
		c.store.SetFlushListener(func(key string, newValue, _ *int64) error {
			return ctx.Forward(runtime.Record[string, int64]{Key: key, Value: *newValue, Timestamp: ctx.StreamTime()})
		})
	}
	return nil
}

func (c *counter) Process(r runtime.Record[string, string]) error {
	if r.Value == "delete" {
		return c.store.Delete(r.Key)
	}
	n, _, err := c.store.Get(r.Key)
	if err != nil {
		return err
	}
	if err := c.store.Put(r.Key, n+1); err != nil {
		return err
	}
	if c.caching {
		return nil
	}
	return c.ctx.Forward(runtime.WithValue(r, n+1))
}

func (c *counter) Close() error { return nil }

func TestChangelogAndCommit(t *testing.T) {
	provider := state.NewMemoryProvider()
	defer provider.Close()
	out := &offsetCollector{}
	task, err := runtime.NewTask(countingTopology(t, false), runtime.TaskConfig{
		ApplicationID: "app", ID: runtime.TaskID{Subtopology: 0, Partition: 3}, Output: out, MemoryStores: provider,
	})
	must(t, err)
	task.Add([]runtime.ConsumedRecord{
		rec("in", 3, 10, "a", "x", 100), rec("in", 3, 11, "b", "x", 101), rec("in", 3, 12, "a", "x", 102),
		rec("in", 3, 13, "b", "delete", 103), rec("in", 3, 14, "a", "x", 104),
	})
	for range 4 {
		if _, err := task.Process(); err != nil {
			t.Fatal(err)
		}
	}
	var changelog []string
	for _, r := range out.recs {
		if r.Topic != "counts-out" {
			if r.Topic != "app-counts-changelog" || r.Partition != 3 {
				t.Fatalf("changelog record to %s-%d, want app-counts-changelog-3", r.Topic, r.Partition)
			}
			changelog = append(changelog, fmt.Sprintf("%s=%s@%d", r.Key, i64(r.Value), r.Timestamp))
		}
	}
	if want := []string{"a=1@100", "b=1@101", "a=2@102", "b=<null>@103"}; !slices.Equal(changelog, want) {
		t.Errorf("changelog %v, want %v", changelog, want)
	}
	if got := out.topic("counts-out", i64); !slices.Equal(got, []string{"a=1", "b=1", "a=2"}) {
		t.Errorf("sink got %v", got)
	}
	for _, r := range out.recs {
		if r.Topic == "counts-out" && r.Partition != -1 {
			t.Errorf("sink record partition %d, want -1 (producer partitions by key)", r.Partition)
		}
	}
	offsets, err := task.Commit()
	must(t, err)
	if want := map[runtime.TopicPartition]int64{{Topic: "in", Partition: 3}: 14}; fmt.Sprint(offsets) != fmt.Sprint(want) {
		t.Errorf("Commit offsets %v, want %v (the record at 14 is still queued)", offsets, want)
	}
	if out.flushed != 1 {
		t.Errorf("OffsetCollector flushed %d times, want 1", out.flushed)
	}
	must(t, task.Close())
	engine, err := provider.Open("0_3", "counts")
	must(t, err)
	defer engine.Close()
	committed, err := engine.CommittedOffsets()
	must(t, err)
	if committed["app-counts-changelog-3"] != 4 {
		t.Errorf("store committed with %v, want app-counts-changelog-3 at 4", committed)
	}
}

func TestCachedStoreForwardsOnCommit(t *testing.T) {
	out := &collector{}
	task, err := runtime.NewTask(countingTopology(t, true), runtime.TaskConfig{ApplicationID: "app", Output: out})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "a", "x", 1), rec("in", 0, 1, "a", "x", 2), rec("in", 0, 2, "b", "x", 3)})
	drain(t, task)
	if len(out.recs) != 0 {
		t.Fatalf("a caching store emitted %d records before commit", len(out.recs))
	}
	_, err = task.Commit()
	must(t, err)
	if got := out.topic("counts-out", i64); !slices.Equal(got, []string{"a=2", "b=1"}) {
		t.Errorf("sink got %v after commit, want the last count per key", got)
	}
	if got := out.topic("app-counts-changelog", i64); !slices.Equal(got, []string{"a=2", "b=1"}) {
		t.Errorf("changelog got %v after commit", got)
	}
}

func TestDeserializationErrors(t *testing.T) {
	build := func(handler runtime.ErrorHandler) (*runtime.Task, *collector) {
		top := runtime.NewTopology()
		must(t, top.AddSource("src", runtime.SourceConfig[string, int64]{Topics: []string{"in"}, Keys: serde.String(), Values: serde.Int64()}))
		must(t, top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "out", Keys: serde.String(), Values: serde.Int64()}, "src"))
		out := &collector{}
		task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: out, OnDeserializationError: handler})
		must(t, err)
		t.Cleanup(func() { task.Close() })
		eight := func(v int64) string { b, _ := serde.Int64().Encode(v); return string(b) }
		task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "a", eight(1), 1), rec("in", 0, 1, "bad", "xyz", 2), rec("in", 0, 2, "c", eight(3), 3)})
		return task, out
	}
	t.Run("skip", func(t *testing.T) {
		var handled []int64
		task, out := build(func(ec runtime.ErrorContext, err error) runtime.ErrorAction {
			handled = append(handled, ec.Record.Offset)
			if !errors.Is(err, runtime.ErrDeserialization) || !errors.Is(err, serde.ErrDecode) {
				t.Errorf("handler got %v", err)
			}
			return runtime.ActionContinue
		})
		drain(t, task)
		if got := out.topic("out", i64); !slices.Equal(got, []string{"a=1", "c=3"}) {
			t.Errorf("output %v", got)
		}
		if m := task.Metrics(); m.SkippedDeserialization != 1 || m.Processed != 2 || !slices.Equal(handled, []int64{1}) {
			t.Errorf("metrics %+v, handled %v", m, handled)
		}
		offsets, err := task.Commit()
		must(t, err)
		if offsets[runtime.TopicPartition{Topic: "in"}] != 3 {
			t.Errorf("offsets %v: a skipped record counts as consumed", offsets)
		}
	})
	t.Run("fail", func(t *testing.T) {
		task, _ := build(nil)
		if _, err := task.Process(); err != nil {
			t.Fatal(err)
		}
		_, err := task.Process()
		if !errors.Is(err, runtime.ErrDeserialization) {
			t.Fatalf("Process = %v, want ErrDeserialization", err)
		}
	})
}

func TestProcessingErrors(t *testing.T) {
	boom := errors.New("boom")
	build := func(handler runtime.ErrorHandler) (*runtime.Task, *collector) {
		top := runtime.NewTopology()
		must(t, top.AddSource("src", strSource("in")))
		must(t, top.AddProcessor("first", passThrough[string, string](), "src"))
		fail := runtime.ProcessorFunc[string, string, string, string](func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
			if r.Value == "poison" {
				return boom
			}
			return ctx.Forward(r)
		})
		must(t, top.AddProcessor("picky", fail.Supplier(), "first"))
		must(t, top.AddSink("out", strSink("out"), "picky"))
		out := &collector{}
		task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: out, OnProcessingError: handler})
		must(t, err)
		t.Cleanup(func() { task.Close() })
		task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "a", "ok", 1), rec("in", 0, 1, "b", "poison", 2), rec("in", 0, 2, "c", "ok", 3)})
		return task, out
	}
	t.Run("skip", func(t *testing.T) {
		var nodes []string
		task, out := build(func(ec runtime.ErrorContext, err error) runtime.ErrorAction {
			nodes = append(nodes, ec.Node)
			return runtime.ActionContinue
		})
		drain(t, task)
		if got := out.topic("out", str); !slices.Equal(got, []string{"a=ok", "c=ok"}) {
			t.Errorf("output %v", got)
		}
		if m := task.Metrics(); m.SkippedProcessing != 1 || !slices.Equal(nodes, []string{"picky"}) {
			t.Errorf("metrics %+v, failing nodes %v", m, nodes)
		}
	})
	t.Run("fail", func(t *testing.T) {
		task, _ := build(nil)
		drainErr := func() error {
			for {
				ok, err := task.Process()
				if err != nil || !ok {
					return err
				}
			}
		}
		err := drainErr()
		if !errors.Is(err, boom) || !errors.Is(err, runtime.ErrProcessing) {
			t.Fatalf("Process = %v, want boom wrapped in ErrProcessing", err)
		}
	})
}

func TestInvalidTimestampsAreSkipped(t *testing.T) {
	top := runtime.NewTopology()
	src := strSource("in")
	// An extractor reading the timestamp from the value; "late" gets -1.
	src.Timestamps = func(topic string, partition int32, key, value []byte, recordTimestamp, partitionTime int64) int64 {
		if string(value) == "late" {
			return -1
		}
		n, _ := strconv.ParseInt(string(value), 10, 64)
		return n
	}
	must(t, top.AddSource("src", src))
	var log []seen
	must(t, top.AddProcessor("rec", func() runtime.Processor[string, string, string, string] { return &recorder{seen: &log} }, "src"))
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: &collector{}})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "a", "50", 1), rec("in", 0, 1, "b", "late", 2), rec("in", 0, 2, "c", "70", 3)})
	drain(t, task)
	if len(log) != 2 || log[0].ts != 50 || log[1].ts != 70 {
		t.Errorf("processed %+v, want a at 50 and c at 70", log)
	}
	if m := task.Metrics(); m.SkippedInvalidTimestamp != 1 {
		t.Errorf("SkippedInvalidTimestamp = %d, want 1", m.SkippedInvalidTimestamp)
	}
	offsets, err := task.Commit()
	must(t, err)
	if offsets[runtime.TopicPartition{Topic: "in"}] != 3 {
		t.Errorf("offsets %v, want in-0 at 3", offsets)
	}
}

func TestRepartitionAndPartitioner(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddRepartitionTopic("by-value", 4))
	must(t, top.AddSource("src", strSource("in")))
	sink := strSink(top.InternalTopic("by-value"))
	sink.Partitioner = func(topic string, key, value string, n int32) (int32, bool) {
		p, err := strconv.Atoi(value)
		return int32(p) % n, err == nil
	}
	must(t, top.AddSink("to-rep", sink, "src"))
	must(t, top.AddSource("rep", strSource(top.InternalTopic("by-value"))))
	must(t, top.AddSink("out", strSink("out"), "rep"))

	out := &collector{}
	counts := func(topic string) int32 {
		if topic == "app-by-value-repartition" {
			return 4
		}
		return 0
	}
	first, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: out, PartitionCount: counts})
	must(t, err)
	defer first.Close()
	first.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "a", "6", 1), rec("in", 0, 1, "b", "x", 2)})
	drain(t, first)
	var got []string
	for _, r := range out.recs {
		got = append(got, fmt.Sprintf("%s-%d:%s", r.Topic, r.Partition, r.Key))
	}
	if want := []string{"app-by-value-repartition-2:a", "app-by-value-repartition--1:b"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}

	second, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", ID: runtime.TaskID{Subtopology: 1, Partition: 2}, Output: out})
	must(t, err)
	defer second.Close()
	if got := second.Partitions(); !slices.Equal(got, []runtime.TopicPartition{{Topic: "app-by-value-repartition", Partition: 2}}) {
		t.Errorf("second task reads %v", got)
	}
}

func TestNewTaskErrors(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource("in")))
	must(t, top.AddProcessor("p", passThrough[string, string](), "src"))
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("disk", serde.String(), serde.Int64(), runtime.StoreOptions{Persistent: true}), "p"))
	tests := []struct {
		name string
		cfg  runtime.TaskConfig
	}{
		{"no output", runtime.TaskConfig{ApplicationID: "app", Stores: state.NewMemoryProvider()}},
		{"no such sub-topology", runtime.TaskConfig{ApplicationID: "app", ID: runtime.TaskID{Subtopology: 5}, Output: &collector{}, Stores: state.NewMemoryProvider()}},
		{"partition of another topic", runtime.TaskConfig{ApplicationID: "app", Output: &collector{}, Stores: state.NewMemoryProvider(), Partitions: []runtime.TopicPartition{{Topic: "other"}}}},
		{"persistent store without provider", runtime.TaskConfig{ApplicationID: "app", Output: &collector{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if task, err := runtime.NewTask(top, tt.cfg); err == nil {
				task.Close()
				t.Fatal("NewTask succeeded")
			}
		})
	}
}

func TestUnknownPartitionIsCounted(t *testing.T) {
	task, log, _ := recordingTask(t, runtime.TaskConfig{}, nil, "a")
	task.Add([]runtime.ConsumedRecord{rec("a", 1, 0, "x", "", 1), rec("zzz", 0, 0, "y", "", 1)})
	drain(t, task)
	if len(*log) != 0 || task.Metrics().SkippedUnknownPartition != 2 {
		t.Fatalf("processed %v, metrics %+v", *log, task.Metrics())
	}
}

func TestNullKeysAndValues(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, *string]{Topics: []string{"in"}, Keys: serde.String(), Values: serde.Nullable(serde.String())}))
	var got []string
	p := runtime.ProcessorFunc[string, *string, string, *string](func(ctx runtime.ProcessorContext[string, *string], r runtime.Record[string, *string]) error {
		got = append(got, fmt.Sprintf("%q:%v", r.Key, r.Value == nil))
		return ctx.Forward(r)
	})
	must(t, top.AddProcessor("p", p.Supplier(), "src"))
	must(t, top.AddSink("out", runtime.SinkConfig[string, *string]{Topic: "out", Keys: serde.String(), Values: serde.Nullable(serde.String())}, "p"))
	out := &collector{}
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: out})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{{Topic: "in", Key: nil, Value: nil, Timestamp: 1}, {Topic: "in", Offset: 1, Key: []byte("k"), Value: []byte("v"), Timestamp: 2}})
	drain(t, task)
	if want := []string{`"":true`, `"k":false`}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if out.recs[0].Value != nil {
		t.Errorf("a nil *string went out as %q, want a tombstone", out.recs[0].Value)
	}
}

// lastValue keeps the last value per key in a cached store and forwards on flush.
type lastValue struct {
	name  string
	store *state.KeyValueStore[string, int64]
}

func (l *lastValue) Init(ctx runtime.ProcessorContext[string, int64]) error {
	var err error
	if l.store, err = runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, l.name); err != nil {
		return err
	}
	l.store.SetFlushListener(func(key string, newValue, _ *int64) error {
		return ctx.Forward(runtime.Record[string, int64]{Key: key, Value: *newValue})
	})
	return nil
}

func (l *lastValue) Process(r runtime.Record[string, int64]) error {
	return l.store.Put(r.Key, r.Value*10)
}
func (l *lastValue) Close() error { return nil }

// A cached store's flush forwards into a processor writing another cached store, and
// so on; the task flushes upstream stores first, so one commit brings everything
// downstream, whatever order the stores were added in.
func TestCommitFlushesCachesInTopologicalOrder(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddSource("src", strSource("in")))
	must(t, top.AddProcessor("p1", func() runtime.Processor[string, string, string, int64] { return &counter{caching: true, name: "s1"} }, "src"))
	must(t, top.AddProcessor("p2", func() runtime.Processor[string, int64, string, int64] { return &lastValue{name: "s2"} }, "p1"))
	must(t, top.AddProcessor("p3", func() runtime.Processor[string, int64, string, int64] { return &lastValue{name: "s3"} }, "p2"))
	must(t, top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "out", Keys: serde.String(), Values: serde.Int64()}, "p3"))
	cached := runtime.StoreOptions{Caching: true}
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("s3", serde.String(), serde.Int64(), cached), "p3"))
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("s2", serde.String(), serde.Int64(), cached), "p2"))
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("s1", serde.String(), serde.Int64(), cached), "p1"))
	out := &collector{}
	task, err := runtime.NewTask(top, runtime.TaskConfig{ApplicationID: "app", Output: out})
	must(t, err)
	defer task.Close()
	task.Add([]runtime.ConsumedRecord{rec("in", 0, 0, "a", "x", 1), rec("in", 0, 1, "a", "x", 2)})
	drain(t, task)
	_, err = task.Commit()
	must(t, err)
	if got := out.topic("out", i64); !slices.Equal(got, []string{"a=200"}) {
		t.Errorf("after one commit the sink got %v, want [a=200]", got)
	}
}

func TestPunctuatorErrorsGoToTheHandler(t *testing.T) {
	boom := errors.New("boom")
	init := func(ctx runtime.ProcessorContext[string, string]) error {
		_, err := ctx.Schedule(time.Second, runtime.WallClockTime, func(int64) error { return boom })
		return err
	}
	var got []runtime.ErrorContext
	cfg := runtime.TaskConfig{Now: func() int64 { return 0 }, OnProcessingError: func(ec runtime.ErrorContext, err error) runtime.ErrorAction {
		got = append(got, ec)
		if len(got) == 1 {
			return runtime.ActionContinue
		}
		return runtime.ActionFail
	}}
	task, _, _ := recordingTask(t, cfg, init, "a")
	must(t, task.PunctuateWallClock(1000))
	if err := task.PunctuateWallClock(2000); !errors.Is(err, boom) || !errors.Is(err, runtime.ErrProcessing) {
		t.Fatalf("second punctuation: %v, want boom wrapped in ErrProcessing", err)
	}
	if len(got) != 2 || !got[0].Punctuation || got[0].Node != "rec" || got[0].Record != nil {
		t.Errorf("handler saw %+v", got)
	}
	if m := task.Metrics(); m.SkippedProcessing != 1 || m.WallClockPunctuations != 2 {
		t.Errorf("metrics %+v", m)
	}
}

func TestShouldPauseAndClose(t *testing.T) {
	task, _, _ := recordingTask(t, runtime.TaskConfig{MaxBufferedPerPartition: 2}, nil, "a")
	tp := runtime.TopicPartition{Topic: "a"}
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 0, "k", "", 1)})
	if task.ShouldPause(tp) {
		t.Error("paused with 1 of 2 buffered")
	}
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 1, "k", "", 1)})
	if !task.ShouldPause(tp) {
		t.Error("not paused with 2 of 2 buffered")
	}
	must(t, task.Close())
	if _, err := task.Process(); !errors.Is(err, runtime.ErrTaskClosed) {
		t.Errorf("Process after Close: %v", err)
	}
	if _, err := task.Commit(); !errors.Is(err, runtime.ErrTaskClosed) {
		t.Errorf("Commit after Close: %v", err)
	}
}
