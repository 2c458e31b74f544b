package dsl_test

import (
	"testing"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
)

// keysOnTwoPartitions returns two keys that DefaultPartition puts on partitions 0 and
// 1 of a two-partition topic, in that order.
func keysOnTwoPartitions(t *testing.T) [2]string {
	t.Helper()
	var keys [2]string
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		p := runtime.DefaultPartition([]byte(k), 2)
		if keys[p] == "" {
			keys[p] = k
		}
	}
	if keys[0] == "" || keys[1] == "" {
		t.Fatalf("no key for each partition: %q", keys)
	}
	return keys
}

// expectDroppedLate checks each task's TaskMetrics.DroppedLate.
func expectDroppedLate(t *testing.T, d *testdriver.Driver, want map[runtime.TaskID]int64) {
	t.Helper()
	got := d.TaskMetrics()
	if len(got) != len(want) {
		t.Fatalf("%d tasks, want %d", len(got), len(want))
	}
	for id, n := range want {
		if m, ok := got[id]; !ok || m.DroppedLate != n {
			t.Errorf("task %v dropped %d late records, want %d", id, m.DroppedLate, n)
		}
	}
}

// TestWindowLateCountedPerTask checks that a windowed count's late records are counted
// in the metrics of the task that dropped them, each task by the stream time it
// observed.
func TestWindowLateCountedPerTask(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("in", strs).GroupByKey().WindowedBy(dsl.TimeWindowsOf(10 * msec)).Count(dsl.Named("count"))
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"in": 2}})
	in := input(t, d, "in", str, str)
	keys := keysOnTwoPartitions(t)
	pipeAt(t, in, keys[0], "x", 20)
	pipeAt(t, in, keys[0], "late", 1) // [0,10) closed at stream time 10
	pipeAt(t, in, keys[0], "late", 9)
	pipeAt(t, in, keys[1], "x", 5) // partition 1 has seen no time yet: on time
	expectDroppedLate(t, d, map[runtime.TaskID]int64{{Partition: 0}: 2, {Partition: 1}: 0})
	if n := b.DroppedLateRecords()["count"]; n != 2 {
		t.Errorf("builder counted %d late records, want 2", n)
	}
}

// TestStreamJoinLateCountedPerTask checks that records a stream-stream join drops as
// late, from either side, are counted in the metrics of their task.
func TestStreamJoinLateCountedPerTask(t *testing.T) {
	b := dsl.NewBuilder()
	b.Stream("l", strs).Join(b.Stream("r", strs), joinValues, dsl.JoinWindowsOf(10*time.Millisecond)).
		To("out", dsl.Produced[string, string]{Values: str})
	d := newDriver(t, b, testdriver.Config{Partitions: map[string]int32{"l": 2, "r": 2}})
	l, r := input(t, d, "l", str, str), input(t, d, "r", str, str)
	keys := keysOnTwoPartitions(t)
	pipeAt(t, l, keys[1], "L", 100)
	pipeAt(t, r, keys[1], "late", 80) // 80 + 10 < 100: closed
	pipeAt(t, l, keys[1], "late", 85)
	pipeAt(t, r, keys[1], "on-time", 95)
	pipeAt(t, l, keys[0], "L", 50) // partition 0's stream time is its own
	expectDroppedLate(t, d, map[runtime.TaskID]int64{{Partition: 0}: 0, {Partition: 1}: 2})
}
