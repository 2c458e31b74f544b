package testdriver_test

import (
	"errors"
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// Misuse is reported as errors wrapping the sentinels callers branch on, never as a
// panic.
func TestErrors(t *testing.T) {
	d := newDriver(t, wordCount(t, runtime.StoreOptions{Logging: true}), testdriver.Config{Partitions: map[string]int32{"lines": 2}})
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"input topic nobody reads", errOf(d.CreateInputTopic("nope", strings(), strings())), testdriver.ErrUnknownTopic},
		{"input topic only written", errOf(d.CreateInputTopic("counts-out", strings(), serde.Int64())), testdriver.ErrUnknownTopic},
		{"output topic nobody writes", errOf(d.CreateOutputTopic("nope", strings(), strings())), testdriver.ErrUnknownTopic},
		{"unknown store", errOf(d.ReadKeyValueStore[string, int64]("nope")), runtime.ErrUnknownStore},
		{"store of another type", errOf(d.ReadKeyValueStore[string, string]("counts")), runtime.ErrUnknownStore},
		{"typed store of another type", errOf(d.GetStore[*state.WindowStore[string, int64]]("counts", 0)), runtime.ErrUnknownStore},
		{"store of a missing partition", errOf(d.GetStore[*state.KeyValueStore[string, int64]]("counts", 7)), runtime.ErrUnknownStore},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	lines, err := d.CreateInputTopic("lines", strings(), strings())
	must(t, err)
	for _, p := range []int32{2, -3} {
		if err := lines.PipeRecordAt(p, runtime.Record[string, string]{Key: "k", Value: "v"}); !errors.Is(err, testdriver.ErrInvalidPartition) {
			t.Errorf("pipe to partition %d: %v", p, err)
		}
	}
	if _, err := testdriver.New(runtime.NewTopology(), testdriver.Config{}); !errors.Is(err, runtime.ErrInvalidTopology) {
		t.Errorf("empty topology: %v", err)
	}
	if _, err := testdriver.New(wordCount(t, runtime.StoreOptions{}), testdriver.Config{Partitions: map[string]int32{"lines": 0}}); !errors.Is(err, testdriver.ErrInvalidPartition) {
		t.Errorf("zero partitions: %v", err)
	}
}

func errOf[T any](_ T, err error) error { return err }

// Reading with a serde that does not fit the bytes fails and leaves the record unread,
// so the test can read it again with the right one.
func TestOutputWrongSerde(t *testing.T) {
	d := newDriver(t, wordCount(t, runtime.StoreOptions{}), testdriver.Config{})
	lines, err := d.CreateInputTopic("lines", strings(), strings())
	must(t, err)
	must(t, lines.PipeInput("ann", "apple"))
	wrong, err := d.CreateOutputTopic("counts-out", strings(), serde.Int32())
	must(t, err)
	if _, err := wrong.ReadRecord(); !errors.Is(err, serde.ErrDecode) {
		t.Fatalf("read of int64 bytes as int32: %v, want serde.ErrDecode", err)
	}
	if _, err := testdriver.ReadKeyValuesToMap(wrong); !errors.Is(err, serde.ErrDecode) {
		t.Fatalf("map of int64 bytes as int32: %v, want serde.ErrDecode", err)
	}
	if wrong.QueueSize() != 1 {
		t.Fatalf("a failed read consumed the record")
	}
	right, err := d.CreateOutputTopic("counts-out", strings(), serde.Int64())
	must(t, err)
	if v, err := right.ReadValue(); err != nil || v != 1 {
		t.Errorf("read again: %d, %v", v, err)
	}
}

// int64Sum reads "nums" with Int64 values into a sum per key in store "sums", and
// fails on a negative number.
func int64Sum(t testing.TB) *runtime.Topology {
	t.Helper()
	top := runtime.NewTopology()
	must(t, top.AddSource("src", runtime.SourceConfig[string, int64]{Topics: []string{"nums"}, Keys: strings(), Values: serde.Int64()}))
	sum := runtime.ProcessorFunc[string, int64, string, int64](func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, int64]) error {
		if r.Value < 0 {
			return errors.New("negative")
		}
		s, err := runtime.GetStore[*state.KeyValueStore[string, int64]](ctx, "sums")
		if err != nil {
			return err
		}
		n, _, err := s.Get(r.Key)
		if err != nil {
			return err
		}
		return s.Put(r.Key, n+r.Value)
	})
	must(t, top.AddProcessor("sum", sum.Supplier(), "src"))
	must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("sums", strings(), serde.Int64(), runtime.StoreOptions{Persistent: true, Logging: true}), "sum"))
	return top
}

// A record the source cannot decode (or a processor rejects) fails the pipe with the
// runtime's error and fails the driver, as it would stop a production task; with
// ContinueOnError such records are skipped and counted.
func TestFailedRecords(t *testing.T) {
	tests := []struct {
		name string
		pipe func(d *testdriver.Driver) error
		want error
	}{
		{"undecodable value", func(d *testdriver.Driver) error {
			in, err := d.CreateInputTopic("nums", strings(), strings())
			must(t, err)
			return in.PipeInput("k", "not eight bytes")
		}, runtime.ErrDeserialization},
		{"processor error", func(d *testdriver.Driver) error {
			in, err := d.CreateInputTopic("nums", strings(), serde.Int64())
			must(t, err)
			return in.PipeInput("k", -1)
		}, runtime.ErrProcessing},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/fail", func(t *testing.T) {
			d := newDriver(t, int64Sum(t), testdriver.Config{})
			if err := tt.pipe(d); !errors.Is(err, tt.want) {
				t.Fatalf("pipe: %v, want %v", err, tt.want)
			}
			if _, err := d.CreateInputTopic("nums", strings(), serde.Int64()); !errors.Is(err, testdriver.ErrFailed) || !errors.Is(err, tt.want) {
				t.Fatalf("call after a failure: %v, want ErrFailed and the cause", err)
			}
			if err := d.AdvanceWallClockTime(0); !errors.Is(err, testdriver.ErrFailed) {
				t.Errorf("advance after a failure: %v", err)
			}
		})
		t.Run(tt.name+"/continue", func(t *testing.T) {
			d := newDriver(t, int64Sum(t), testdriver.Config{
				OnDeserializationError: runtime.ContinueOnError,
				OnProcessingError:      runtime.ContinueOnError,
			})
			must(t, tt.pipe(d))
			in, err := d.CreateInputTopic("nums", strings(), serde.Int64())
			must(t, err)
			must(t, in.PipeInput("k", 5))
			m := d.TaskMetrics()[runtime.TaskID{}]
			if m.Processed != 1 || m.SkippedDeserialization+m.SkippedProcessing != 1 {
				t.Errorf("metrics %+v", m)
			}
			sums, err := d.ReadKeyValueStore[string, int64]("sums")
			must(t, err)
			if n, _, err := sums.Get("k"); err != nil || n != 5 {
				t.Errorf("sum %d, %v", n, err)
			}
		})
	}
}

// Calls on a closed driver fail with ErrClosed; Close is idempotent.
func TestClosed(t *testing.T) {
	d, err := testdriver.New(int64Sum(t), testdriver.Config{})
	must(t, err)
	in, err := d.CreateInputTopic("nums", strings(), serde.Int64())
	must(t, err)
	must(t, d.Close())
	must(t, d.Close())
	if err := in.PipeInput("k", 1); !errors.Is(err, testdriver.ErrClosed) {
		t.Errorf("pipe after close: %v", err)
	}
	if _, err := d.ReadKeyValueStore[string, int64]("sums"); !errors.Is(err, testdriver.ErrClosed) {
		t.Errorf("store after close: %v", err)
	}
}
