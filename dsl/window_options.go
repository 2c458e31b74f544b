package dsl

import "fmt"

// EmitStrategy says when a windowed aggregation emits its results: on every update of
// a window (the default), or once per window, its final result, when the window
// closes (KIP-825). It is a [TableOption] of windowed Count, Reduce and Aggregate.
type EmitStrategy struct{ onClose bool }

// EmitOnWindowUpdate emits a window's new aggregate on every record, as Kafka Streams
// does by default.
func EmitOnWindowUpdate() EmitStrategy { return EmitStrategy{} }

// EmitOnWindowClose emits each window once, when it closes (stream time reaches its
// end + grace), with its final aggregate: Kafka Streams' EmitStrategy.onWindowClose.
// Unlike Suppress it needs no buffer: time and sliding windows are read back from the
// window store as they close. Session windows get a Suppress(UntilWindowCloses) with
// an unbounded buffer instead, since the session store cannot be scanned by time, as do
// windowed cogroups; that processor is named "<Named>-emit-final" when the aggregation
// has a Named.
//
// Which windows were emitted is not stored: after a restart, the windows that closed
// in the last window size (plus 2ms) before the latest window start in the store are
// emitted again, which at-least-once processing may do anyway; Kafka Streams keeps
// the time of its last emission in a store of its own.
func EmitOnWindowClose() EmitStrategy { return EmitStrategy{onClose: true} }

func (EmitStrategy) tableOption() {}

// windowOptions are the options of a windowed aggregation: a table operator's and an
// emit strategy.
type windowOptions[K, V any] struct {
	tableOptions[K, V]
	emitFinal bool
}

// windowOpts sorts the options of the windowed aggregation op.
func windowOpts[K, V any](b *Builder, op string, opts []TableOption) windowOptions[K, V] {
	var o windowOptions[K, V]
	var rest []TableOption
	seen := false
	for _, opt := range opts {
		e, ok := opt.(EmitStrategy)
		if !ok {
			rest = append(rest, opt)
			continue
		}
		if seen {
			b.fail(fmt.Errorf("%w: %s takes at most one EmitStrategy", ErrInvalidOption, op))
		}
		o.emitFinal, seen = e.onClose, true
	}
	o.tableOptions = tableOpts[K, V](b, op, rest)
	return o
}
