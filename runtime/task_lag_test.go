package runtime_test

import (
	"slices"
	"testing"
	"time"

	"github.com/eddy-io/eddy/runtime"
)

// keysOf returns the keys the recorder saw, in order.
func keysOf(log []seen) []string {
	var keys []string
	for _, s := range log {
		keys = append(keys, s.key)
	}
	return keys
}

func TestTaskWaitsForKnownLag(t *testing.T) {
	a, b := runtime.TopicPartition{Topic: "a"}, runtime.TopicPartition{Topic: "b"}
	lagIdle := runtime.DefaultLagIdle.Milliseconds()
	tests := []struct {
		name    string
		idle    time.Duration
		bEnd    int64 // high watermark of b after b0 was fetched; -2: never reported
		advance int64 // wall clock advance before the second Process
		wait    bool  // whether the first Process waits
		after   bool  // whether Process after the advance processes a record
	}{
		{name: "lag known waits", bEnd: 2, wait: true, advance: lagIdle - 1, after: false},
		{name: "lag bound expires", bEnd: 2, wait: true, advance: lagIdle, after: true},
		{name: "lag bound is at least MaxTaskIdle", idle: 3 * runtime.DefaultLagIdle, bEnd: 2, wait: true, advance: lagIdle, after: false},
		{name: "not fetched yet waits", bEnd: -2, wait: true, advance: lagIdle, after: true},
		{name: "caught up does not wait", bEnd: 1, wait: false},
		{name: "caught up waits MaxTaskIdle", idle: 100 * time.Millisecond, bEnd: 1, wait: true, advance: 100, after: true},
		{name: "disabled never waits", idle: -1, bEnd: 2, wait: false},
		{name: "fetch error makes lag unknown", bEnd: -1, wait: true, advance: lagIdle, after: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := int64(1000)
			cfg := runtime.TaskConfig{MaxTaskIdle: tc.idle, Now: func() int64 { return now }}
			task, log, _ := recordingTask(t, cfg, nil, "a", "b")
			task.SetEndOffset(a, 1)
			if tc.bEnd != -2 {
				task.SetEndOffset(b, tc.bEnd)
			}
			task.Add([]runtime.ConsumedRecord{rec("b", 0, 0, "b0", "", 1), rec("a", 0, 0, "a0", "", 7)})
			if ok, err := task.Process(); !ok || err != nil {
				t.Fatalf("Process of b0 = %v, %v", ok, err)
			}
			ok, err := task.Process()
			if err != nil || ok == tc.wait {
				t.Fatalf("first Process = %v, %v; want processed %v", ok, err, !tc.wait)
			}
			if !tc.wait {
				return
			}
			now += tc.advance
			if ok, err := task.Process(); err != nil || ok != tc.after {
				t.Fatalf("Process after %dms = %v, %v; want %v", tc.advance, ok, err, tc.after)
			}
			if want := map[bool]int{true: 2, false: 1}[tc.after]; len(*log) != want {
				t.Fatalf("processed %v, want %d records", keysOf(*log), want)
			}
		})
	}
}

func TestTaskLaggingPartitionIsOrdered(t *testing.T) {
	a, b := runtime.TopicPartition{Topic: "a"}, runtime.TopicPartition{Topic: "b"}
	now := int64(1000)
	task, log, _ := recordingTask(t, runtime.TaskConfig{Now: func() int64 { return now }}, nil, "a", "b")
	// The first fetch brings b0 and says b has two more records; a's brings all of
	// a's. The task waits for b after b0, and again after b1.
	task.SetEndOffset(a, 2)
	task.SetEndOffset(b, 3)
	task.Add([]runtime.ConsumedRecord{rec("b", 0, 0, "b0", "", 5)})
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 0, "a0", "", 10), rec("a", 0, 1, "a1", "", 30)})
	drain(t, task)
	if want := []string{"b0"}; !slices.Equal(keysOf(*log), want) {
		t.Fatalf("order %v, want %v", keysOf(*log), want)
	}
	task.Add([]runtime.ConsumedRecord{rec("b", 0, 1, "b1", "", 20)})
	drain(t, task)
	if want := []string{"b0", "a0", "b1"}; !slices.Equal(keysOf(*log), want) {
		t.Fatalf("order %v, want %v", keysOf(*log), want)
	}
	task.Add([]runtime.ConsumedRecord{rec("b", 0, 2, "b2", "", 40)})
	drain(t, task)
	if want := []string{"b0", "a0", "b1", "a1", "b2"}; !slices.Equal(keysOf(*log), want) {
		t.Fatalf("order %v, want %v", keysOf(*log), want)
	}
	if got := task.StreamTime(); got != 40 {
		t.Fatalf("stream time %d, want 30", got)
	}
}

func TestTaskClearBufferedForgetsLag(t *testing.T) {
	a, b := runtime.TopicPartition{Topic: "a"}, runtime.TopicPartition{Topic: "b"}
	now := int64(1000)
	task, log, _ := recordingTask(t, runtime.TaskConfig{Now: func() int64 { return now }}, nil, "a", "b")
	task.SetEndOffset(a, 1)
	task.SetEndOffset(b, 5)
	task.Add([]runtime.ConsumedRecord{rec("b", 0, 3, "b3", "", 1)})
	task.ClearBuffered()
	// After the rebalance b's first fetch comes back empty: the position b3 left
	// behind must not make the task believe b lags.
	task.SetEndOffset(b, 5)
	task.Add([]runtime.ConsumedRecord{rec("a", 0, 0, "a0", "", 7)})
	drain(t, task)
	if want := []string{"a0"}; !slices.Equal(keysOf(*log), want) {
		t.Fatalf("processed %v, want %v", keysOf(*log), want)
	}
}
