package dsl

import (
	"math"
	"sync/atomic"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// windowedNode is what the builder keeps of a windowed aggregation processor.
type windowedNode struct {
	// closeAfter is how long after a window's End (in its Windowed key) the window
	// closes: a window is final once End + closeAfter <= stream time.
	closeAfter int64
	// end returns the End of a key of the table, a serde.Windowed.
	end func(key any) int64
	// dropped counts the records the processor's instances, in every task, dropped as
	// late.
	dropped atomic.Int64
}

// windowedProcessor registers the windowed aggregation processor name, whose windows
// close closeAfter after their End, and returns its entry.
func windowedProcessor[K any](b *Builder, name string, closeAfter int64) *windowedNode {
	n := &windowedNode{closeAfter: closeAfter, end: func(k any) int64 { return k.(serde.Windowed[K]).End }}
	b.windowed[name] = n
	return n
}

// DroppedLateRecords returns, for each windowed aggregation processor of the topology,
// how many records it dropped because they arrived after a window they belong to had
// closed (window end + grace, by stream time), summed over its tasks in this process.
// A record is counted once even when it is dropped from several hopping windows; Kafka
// Streams' dropped-records sensor counts each window.
//
// The processors also report each drop to their task (ProcessorContext.
// LateRecordDropped), which counts it in runtime.TaskMetrics.DroppedLate and the
// eddy_task_dropped_records_total{reason="late"} metric, as Kafka Streams' per-task
// dropped-records metric; that count includes stream-stream joins and is the one to
// monitor. These counts, per processor, live in the builder that made the processors:
// two applications running one topology in the same process add to the same counts.
func (b *Builder) DroppedLateRecords() map[string]int64 {
	out := make(map[string]int64, len(b.windowed))
	for name, n := range b.windowed {
		out[name] = n.dropped.Load()
	}
	return out
}

// observer tracks the stream time a windowed processor observes: the largest timestamp
// of the records that reached it, as Kafka Streams' windowed processors track it (not
// the task's, which records filtered out upstream also advance). It restarts with the
// task.
type observer struct{ observed int64 }

func newObserver() observer { return observer{observed: math.MinInt64} }

// see advances the observed stream time to ts if later and returns it.
func (o *observer) see(ts int64) int64 {
	o.observed = max(o.observed, ts)
	return o.observed
}

// addLateStream adds, beside a windowed aggregation processor, the node forwarding the
// records that processor drops as late, and returns its stream. The node is a sibling
// of the aggregation under the same parent, so it sees the same records in the same
// order, tracks the same observed stream time and reaches the same verdict; late
// decides it from the record and the observed stream time, with the aggregation's
// stores open to it when it needs them (session windows).
func addLateStream[K, V any](s Stream[K, V], name string, stores []string, late func(ctx storeContext) (func(r runtime.Record[K, V], observed int64) (bool, error), error)) Stream[K, V] {
	b := s.b
	addProcessor(b, name, func() runtime.Processor[K, V, K, V] {
		return &lateProcessor[K, V]{open: late, obs: newObserver()}
	}, s.node)
	for _, st := range stores {
		b.do(func() error { return b.top.ConnectProcessorAndStateStores(name, st) })
	}
	return Stream[K, V]{b: b, node: name, keys: s.keys, values: s.values}
}

// lateProcessor forwards the records its windowed aggregation drops as late.
type lateProcessor[K, V any] struct {
	open func(ctx storeContext) (func(r runtime.Record[K, V], observed int64) (bool, error), error)
	late func(r runtime.Record[K, V], observed int64) (bool, error)
	ctx  runtime.ProcessorContext[K, V]
	obs  observer
}

func (p *lateProcessor[K, V]) Init(ctx runtime.ProcessorContext[K, V]) error {
	p.ctx = ctx
	late, err := p.open(ctx)
	p.late = late
	return err
}

func (p *lateProcessor[K, V]) Process(r runtime.Record[K, V]) error {
	late, err := p.late(r, p.obs.see(r.Timestamp))
	if err != nil || !late {
		return err
	}
	return p.ctx.Forward(r)
}

func (p *lateProcessor[K, V]) Close() error { return nil }
