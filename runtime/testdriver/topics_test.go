package testdriver_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// The reading API of an output topic, and how input topics stamp records.
func TestOutputTopicReading(t *testing.T) {
	top := runtime.NewTopology()
	nullable := serde.Nullable(serde.String())
	must(t, top.AddSource("src", runtime.SourceConfig[string, *string]{Topics: []string{"in"}, Keys: strings(), Values: nullable}))
	must(t, top.AddSink("sink", runtime.SinkConfig[string, *string]{Topic: "out", Keys: strings(), Values: nullable}, "src"))
	d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"in": 2, "out": 2}})
	start := time.UnixMilli(5000)
	in, err := d.CreateInputTopic("in", strings(), nullable, testdriver.WithStartTime(start), testdriver.WithAutoAdvance(time.Second))
	must(t, err)
	out, err := d.CreateOutputTopic("out", strings(), nullable)
	must(t, err)
	ptr := func(s string) *string { return &s }

	if _, err := out.ReadRecord(); !errors.Is(err, testdriver.ErrNoRecord) {
		t.Fatalf("read of an empty topic: %v, want ErrNoRecord", err)
	}
	if !out.IsEmpty() || out.QueueSize() != 0 {
		t.Fatal("new topic not empty")
	}

	// Timestamps 5000 and 6000, then 17000 after a 10 s jump.
	must(t, in.PipeInput("a", ptr("1")))
	must(t, in.PipeInput("b", ptr("2")))
	in.AdvanceTime(10 * time.Second)
	must(t, in.PipeKeyValues(testdriver.KeyValue[string, *string]{Key: "a", Value: ptr("3")}))
	hdr := []runtime.Header{{Key: "h", Value: []byte("x")}}
	must(t, in.PipeRecord(runtime.Record[string, *string]{Key: "c", Value: ptr("4"), Timestamp: 42, Headers: hdr}))
	// A tombstone, to a partition its key does not hash to.
	must(t, in.PipeRecordAt(1, runtime.Record[string, *string]{Key: "a", Value: nil, Timestamp: 50}))

	if out.QueueSize() != 5 || out.IsEmpty() {
		t.Fatalf("queue size %d, want 5", out.QueueSize())
	}
	r, err := out.ReadRecord()
	must(t, err)
	if r.Key != "a" || *r.Value != "1" || r.Timestamp != 5000 {
		t.Errorf("first record %q=%v@%d", r.Key, r.Value, r.Timestamp)
	}
	kv, err := out.ReadKeyValue()
	must(t, err)
	if kv.Key != "b" || *kv.Value != "2" {
		t.Errorf("second record %+v", kv)
	}
	v, err := out.ReadValue()
	must(t, err)
	if *v != "3" {
		t.Errorf("third value %q", *v)
	}
	or, err := out.ReadOutputRecord()
	must(t, err)
	if or.Topic != "out" || or.Partition != runtime.DefaultPartition([]byte("c"), 2) || or.Record.Timestamp != 42 || !slices.EqualFunc(or.Record.Headers, hdr, func(a, b runtime.Header) bool {
		return a.Key == b.Key && string(a.Value) == string(b.Value)
	}) {
		t.Errorf("fourth record %+v", or)
	}
	rest, err := out.ReadRecordsToList()
	must(t, err)
	if len(rest) != 1 || rest[0].Key != "a" || rest[0].Value != nil || rest[0].Timestamp != 50 {
		t.Errorf("tombstone read as %+v", rest)
	}
	if _, err := out.ReadKeyValue(); !errors.Is(err, testdriver.ErrNoRecord) {
		t.Errorf("read past the end: %v", err)
	}

}

// ReadKeyValuesToMap keeps the last value per key and drops keys whose last record
// is a tombstone, even with a value serde that cannot represent null.
func TestReadKeyValuesToMap(t *testing.T) {
	for _, name := range []string{"nullable", "string"} {
		t.Run(name, func(t *testing.T) {
			top := runtime.NewTopology()
			must(t, top.AddSource("src", runtime.SourceConfig[string, []byte]{Topics: []string{"in"}, Keys: strings(), Values: serde.Bytes()}))
			must(t, top.AddSink("sink", runtime.SinkConfig[string, []byte]{Topic: "out", Keys: strings(), Values: serde.Bytes()}, "src"))
			d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"in": 3, "out": 3}})
			in, err := d.CreateInputTopic("in", strings(), serde.Bytes())
			must(t, err)
			for _, kv := range []struct{ k, v string }{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"c", "4"}, {"b", ""}, {"c", "5"}} {
				var b []byte
				if kv.v != "" {
					b = []byte(kv.v)
				}
				must(t, in.PipeInput(kv.k, b))
			}
			want := map[string]string{"a": "3", "c": "5"}
			var got map[string]string
			if name == "nullable" {
				out, err := d.CreateOutputTopic("out", strings(), serde.Nullable(serde.String()))
				must(t, err)
				m, err := testdriver.ReadKeyValuesToMap(out)
				must(t, err)
				got = map[string]string{}
				for k, v := range m {
					got[k] = *v
				}
			} else {
				out, err := d.CreateOutputTopic("out", strings(), serde.String())
				must(t, err)
				got, err = testdriver.ReadKeyValuesToMap(out)
				must(t, err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("map %v, want %v", got, want)
			}
		})
	}
}

// Records piped with a null key spread round robin over the partitions.
func TestNullKeysRoundRobin(t *testing.T) {
	var partitions []int32
	top := passThrough(t, func(ctx runtime.ProcessorContext[string, string], r runtime.Record[string, string]) error {
		md, _ := ctx.RecordMetadata()
		partitions = append(partitions, md.Partition)
		return nil
	})
	d := newDriver(t, top, testdriver.Config{Partitions: map[string]int32{"in": 3}})
	in, err := d.CreateInputTopic("in", strings(), strings())
	must(t, err)
	must(t, in.PipeValues("x", "y", "z", "w"))
	if want := []int32{0, 1, 2, 0}; !slices.Equal(partitions, want) {
		t.Errorf("partitions %v, want %v", partitions, want)
	}
}
