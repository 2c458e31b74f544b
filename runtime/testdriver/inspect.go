package testdriver

import (
	"fmt"
	"time"

	"github.com/eddy-io/eddy/runtime"
)

// WallClockTime returns the mocked wall clock.
func (d *Driver) WallClockTime() time.Time { return time.UnixMilli(d.now) }

// TaskIDs returns the driver's tasks in order, one per (sub-topology, partition).
func (d *Driver) TaskIDs() []runtime.TaskID {
	out := make([]runtime.TaskID, len(d.tasks))
	for i, t := range d.tasks {
		out[i] = t.task.ID()
	}
	return out
}

// TaskMetrics returns the counters of every task: records processed and skipped,
// punctuations.
func (d *Driver) TaskMetrics() map[runtime.TaskID]runtime.TaskMetrics {
	out := make(map[runtime.TaskID]runtime.TaskMetrics, len(d.tasks))
	for _, t := range d.tasks {
		out[t.task.ID()] = t.task.Metrics()
	}
	return out
}

// StreamTime returns the stream time of a task, runtime.UnknownTime before its first
// record.
func (d *Driver) StreamTime(id runtime.TaskID) (int64, error) {
	t, err := d.task(id.Subtopology, id.Partition)
	if err != nil {
		return 0, err
	}
	return t.StreamTime(), nil
}

func (d *Driver) task(sub int, partition int32) (*runtime.Task, error) {
	tasks, ok := d.bySub[sub]
	if !ok || partition < 0 || int(partition) >= len(tasks) {
		return nil, fmt.Errorf("testdriver: no task %d_%d", sub, partition)
	}
	return tasks[partition].task, nil
}
