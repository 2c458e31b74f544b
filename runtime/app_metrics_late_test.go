package runtime

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-io/eddy/serde"
)

// lateDropper drops the records whose value is "late" as a windowed processor drops
// late records, telling its context.
type lateDropper struct {
	ctx ProcessorContext[string, string]
}

func (p *lateDropper) Init(ctx ProcessorContext[string, string]) error {
	p.ctx = ctx
	return nil
}

func (p *lateDropper) Process(r Record[string, string]) error {
	if r.Value == "late" {
		p.ctx.LateRecordDropped()
	}
	return nil
}

func (p *lateDropper) Close() error { return nil }

// TestLateRecordsMetric checks that records a processor reports dropped as late are
// counted in TaskMetrics.DroppedLate and scraped as
// eddy_task_dropped_records_total{reason="late"} of their task.
func TestLateRecordsMetric(t *testing.T) {
	top := NewTopology()
	if err := top.AddSource("src", SourceConfig[string, string]{Topics: []string{"in"}, Keys: serde.String(), Values: serde.String()}); err != nil {
		t.Fatal(err)
	}
	if err := top.AddProcessor("drop", func() Processor[string, string, string, string] { return &lateDropper{} }, "src"); err != nil {
		t.Fatal(err)
	}
	id := TaskID{Partition: 2}
	task, err := NewTask(top, TaskConfig{ApplicationID: "app", ID: id, Output: RecordCollectorFunc(func(ProducedRecord) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	var recs []ConsumedRecord
	for i, v := range []string{"late", "on-time", "late", "late"} {
		recs = append(recs, ConsumedRecord{Topic: "in", Partition: 2, Offset: int64(i), Key: []byte("k"), Value: []byte(v), Timestamp: int64(i)})
	}
	task.Add(recs)
	for {
		more, err := task.Process()
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if m := task.Metrics(); m.DroppedLate != 3 || m.Processed != 4 {
		t.Fatalf("metrics %+v, want 3 dropped late of 4 processed", m)
	}

	reg := prometheus.NewPedanticRegistry()
	m := newAppMetrics("app", reg)
	if err := m.register(); err != nil {
		t.Fatal(err)
	}
	m.newTask("app-1", id).start(task)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "eddy_task_dropped_records_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["task"] != "0_2" || l["thread"] != "app-1" {
				t.Errorf("series labelled %v, want task 0_2 of thread app-1", l)
			}
			got[l["reason"]] = s.GetCounter().GetValue()
		}
	}
	if got["late"] != 3 {
		t.Errorf("dropped records by reason %v, want late 3", got)
	}
	for _, reason := range []string{"deserialization", "processing", "invalid_timestamp", "unknown_partition", "production"} {
		if n, ok := got[reason]; !ok || n != 0 {
			t.Errorf("reason %s: %v (present %v), want 0", reason, n, ok)
		}
	}
}
