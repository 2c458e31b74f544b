package dsl

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// ErrBufferFull is wrapped by the processing error of a Suppress whose buffer, set to
// ShutdownWhenFull, would exceed its bounds: the task fails rather than emit a result
// that is not final.
var ErrBufferFull = errors.New("dsl: suppression buffer full")

// BufferFullStrategy says what a full suppression buffer does.
type BufferFullStrategy int

const (
	// ShutdownWhenFull fails the task with ErrBufferFull: no result is ever emitted
	// early. The zero value, and the only strategy UntilWindowCloses accepts, since an
	// early result would not be final.
	ShutdownWhenFull BufferFullStrategy = iota
	// EmitEarlyWhenFull emits the oldest buffered updates until the buffer fits again.
	EmitEarlyWhenFull
)

// BufferConfig bounds a suppression buffer, which holds the latest update of each key
// not yet emitted. The zero value is unbounded.
type BufferConfig struct {
	// MaxRecords bounds the number of keys buffered; 0 is no bound.
	MaxRecords int
	// MaxBytes bounds the bytes of the buffered updates, as the buffer's store encodes
	// them: each is its key, its old and new values and 24 bytes of timestamps and
	// order. 0 is no bound.
	MaxBytes int64
	// WhenFull is what happens when an update would exceed a bound.
	WhenFull BufferFullStrategy
}

// Suppressed says what a Table.Suppress holds back: Kafka Streams' Suppressed. Build one
// with UntilWindowCloses or UntilTimeLimit.
type Suppressed struct {
	untilClose bool
	limit      int64
	buf        BufferConfig
}

// UntilWindowCloses suppresses a windowed table's updates until their window closes,
// then emits each window's final result once: the table must come from a windowed
// aggregation (through any Filter or MapValues). A window closes when stream time
// reaches its end + grace (for sliding and session windows, whose end is inclusive,
// 1ms later, and for sessions also the gap later). buf must be ShutdownWhenFull.
//
// Where the window end is inclusive, Kafka Streams emits at end + grace (+ gap), when
// a record can still reach the window; waiting the extra millisecond keeps the result
// final.
func UntilWindowCloses(buf BufferConfig) Suppressed { return Suppressed{untilClose: true, buf: buf} }

// UntilTimeLimit holds each key's updates back for d of stream time after the first
// one, then emits the latest: at most one update per key per d.
func UntilTimeLimit(d time.Duration, buf BufferConfig) Suppressed {
	return Suppressed{limit: d.Milliseconds(), buf: buf}
}

// Suppress holds back the table's updates as s says and emits each key's latest, with
// the value before the first held-back update as its old value. It is driven by stream
// time: the largest timestamp of the updates that reached it. Options are a Named,
// which names the processor (generated: KTABLE-SUPPRESS-0000000005).
//
// The buffer is kept in memory and logged, as in Kafka Streams, to a store named
// "<Named>-store", or else "KTABLE-SUPPRESS-STATE-STORE-<n>", whose changelog restores
// it when the task moves or restarts. It needs the table's key and value serdes: a
// table whose value type changed (a MapValues) knows its value serde only from a
// Materialized.
func (t Table[K, V]) Suppress(s Suppressed, opts ...Named) Table[K, V] {
	b := t.b
	named := b.named("Suppress", opts)
	name := b.processorName(named, "KTABLE-SUPPRESS")
	store := b.storeName(suffixed(named, "-store"), "KTABLE-SUPPRESS")
	var timeOf func(runtime.Record[K, change[V]]) int64
	limit := s.limit
	switch {
	case s.untilClose:
		if s.buf.WhenFull != ShutdownWhenFull {
			b.fail(fmt.Errorf("%w: Suppress %s: UntilWindowCloses emits only final results, so its buffer must be ShutdownWhenFull", ErrInvalidOption, name))
		}
		node := b.windowedAncestor(t.node)
		if node == nil {
			b.fail(fmt.Errorf("%w: Suppress %s: UntilWindowCloses needs a table from a windowed aggregation", ErrInvalidOption, name))
			break
		}
		limit = node.closeAfter
		end := node.end
		timeOf = func(r runtime.Record[K, change[V]]) int64 { return end(r.Key) }
	case limit < 0:
		b.fail(fmt.Errorf("%w: Suppress %s: negative time limit", ErrInvalidOption, name))
	default:
		timeOf = func(r runtime.Record[K, change[V]]) int64 { return r.Timestamp }
	}
	keys, values, buf := t.keys, t.values, s.buf
	addProcessor(b, name, func() runtime.Processor[K, change[V], K, change[V]] {
		return &suppressProcessor[K, V]{store: store, keys: keys, values: bufferSerde[V]{changeSerde[V]{values}}, buf: buf, limit: limit, timeOf: timeOf, obs: newObserver(), index: map[string]*buffered[K, V]{}}
	}, t.node)
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("%w: Suppress %s: the table's key and value serdes (a Materialized on the operator that changed the type)", ErrSerdeRequired, name))
	} else {
		sb := runtime.KeyValueStoreBuilder(store, serde.Bytes(), serde.Serde[bufferedValue[V]](bufferSerde[V]{changeSerde[V]{values}}), runtime.StoreOptions{Logging: true})
		b.do(func() error { return b.top.AddStateStore(sb, name) })
	}
	out := t
	out.node = name
	return out
}

// windowedAncestor returns the windowed aggregation node whose table node derives from,
// through nodes with one parent each (a Filter, a MapValues), or nil.
func (b *Builder) windowedAncestor(node string) *windowedNode {
	var preds map[string][]string
	for {
		if n, ok := b.windowed[node]; ok {
			return n
		}
		if preds == nil {
			preds = map[string][]string{}
			d := b.top.Describe()
			for _, sub := range d.Subtopologies {
				for _, n := range sub.Nodes {
					preds[n.Name] = n.Predecessors
				}
			}
		}
		p := preds[node]
		if len(p) != 1 {
			return nil
		}
		node = p[0]
	}
}

// buffered is one key's held-back update, as the processor keeps it.
type buffered[K, V any] struct {
	key K
	kb  string
	bufferedValue[V]
	size int64
}

// bufferedValue is what the buffer store keeps of a held-back update.
type bufferedValue[V any] struct {
	// time is when the update is due from (its first arrival, or its window's end),
	// and seq its arrival order: together its place in the buffer.
	time int64
	seq  uint64
	ts   int64 // of the latest update
	c    change[V]
}

// bufferSerde encodes a bufferedValue: time, seq and ts (8 bytes each, big-endian),
// then the change as changeSerde does.
type bufferSerde[V any] struct{ change changeSerde[V] }

func (s bufferSerde[V]) Encode(v bufferedValue[V]) ([]byte, error) {
	cb, err := s.change.Encode(v.c)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 24+len(cb))
	b = binary.BigEndian.AppendUint64(b, uint64(v.time))
	b = binary.BigEndian.AppendUint64(b, v.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(v.ts))
	return append(b, cb...), nil
}

func (s bufferSerde[V]) Decode(b []byte) (bufferedValue[V], error) {
	var v bufferedValue[V]
	if len(b) < 25 {
		return v, fmt.Errorf("%w: suppression buffer entry of %d bytes", serde.ErrDecode, len(b))
	}
	v.time, v.seq, v.ts = int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint64(b[8:]), int64(binary.BigEndian.Uint64(b[16:]))
	c, err := s.change.Decode(b[24:])
	v.c = c
	return v, err
}

// suppressProcessor is Kafka Streams' KTableSuppressProcessor: the latest update of
// each key, ordered by the time it is due from, in memory and in a logged store that
// rebuilds it when the task starts.
type suppressProcessor[K, V any] struct {
	store  string
	keys   serde.Serde[K]
	values bufferSerde[V]
	buf    BufferConfig
	limit  int64
	timeOf func(runtime.Record[K, change[V]]) int64

	ctx   runtime.ProcessorContext[K, change[V]]
	st    *state.KeyValueStore[[]byte, bufferedValue[V]]
	obs   observer
	index map[string]*buffered[K, V]
	order bufferHeap[K, V]
	bytes int64
	seq   uint64
}

func (p *suppressProcessor[K, V]) Init(ctx runtime.ProcessorContext[K, change[V]]) error {
	st, err := runtime.GetStore[*state.KeyValueStore[[]byte, bufferedValue[V]]](ctx, p.store)
	if err != nil {
		return err
	}
	p.ctx, p.st = ctx, st
	it, err := st.All()
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		kb, v := it.Key(), it.Value()
		key, err := p.keys.Decode(kb)
		if err != nil {
			return fmt.Errorf("suppress: buffered key: %w", err)
		}
		size, err := p.sizeOf(kb, v)
		if err != nil {
			return err
		}
		e := &buffered[K, V]{key: key, kb: string(kb), bufferedValue: v, size: size}
		p.index[e.kb] = e
		heap.Push(&p.order, e)
		p.bytes += e.size
		p.seq = max(p.seq, v.seq)
	}
	return it.Err()
}

func (p *suppressProcessor[K, V]) Close() error { return nil }

func (p *suppressProcessor[K, V]) Process(r runtime.Record[K, change[V]]) error {
	observed := p.obs.see(r.Timestamp)
	kb, err := p.keys.Encode(r.Key)
	if err != nil {
		return fmt.Errorf("suppress: encode key: %w", err)
	}
	e, ok := p.index[string(kb)]
	if ok {
		// The key keeps its place: its time counts from its first held-back update,
		// and its old value is the one before that update.
		e.c.new, e.ts = r.Value.new, r.Timestamp
	} else {
		p.seq++
		e = &buffered[K, V]{key: r.Key, kb: string(kb), bufferedValue: bufferedValue[V]{time: p.timeOf(r), seq: p.seq, ts: r.Timestamp, c: r.Value}}
		p.index[e.kb] = e
		heap.Push(&p.order, e)
	}
	if err := p.st.Put(kb, e.bufferedValue); err != nil {
		return err
	}
	size, err := p.sizeOf(kb, e.bufferedValue)
	if err != nil {
		return err
	}
	p.bytes += size - e.size
	e.size = size
	// Emit what is due: updates held for the time limit, windows that closed.
	for len(p.order) > 0 && p.order[0].time <= saturatingSub(observed, p.limit) {
		if err := p.emitOldest(); err != nil {
			return err
		}
	}
	for p.full() {
		if p.buf.WhenFull == ShutdownWhenFull {
			return fmt.Errorf("%w: %d records, %d bytes (bounds %d records, %d bytes)", ErrBufferFull, len(p.order), p.bytes, p.buf.MaxRecords, p.buf.MaxBytes)
		}
		if err := p.emitOldest(); err != nil {
			return err
		}
	}
	return nil
}

func (p *suppressProcessor[K, V]) full() bool {
	return (p.buf.MaxRecords > 0 && len(p.order) > p.buf.MaxRecords) || (p.buf.MaxBytes > 0 && p.bytes > p.buf.MaxBytes)
}

// sizeOf is what a buffered update weighs against MaxBytes: its key and its entry in
// the buffer store, as encoded there. It is only worked out when MaxBytes is set.
func (p *suppressProcessor[K, V]) sizeOf(kb []byte, v bufferedValue[V]) (int64, error) {
	if p.buf.MaxBytes <= 0 {
		return 0, nil
	}
	vb, err := p.values.Encode(v)
	if err != nil {
		return 0, fmt.Errorf("suppress: encode: %w", err)
	}
	return int64(len(kb) + len(vb)), nil
}

// emitOldest forwards the update first in the buffer and removes it; an update that
// changes nothing (a key created and deleted while held back) is not forwarded.
func (p *suppressProcessor[K, V]) emitOldest() error {
	e := heap.Pop(&p.order).(*buffered[K, V])
	delete(p.index, e.kb)
	p.bytes -= e.size
	if err := p.st.Delete([]byte(e.kb)); err != nil {
		return err
	}
	if e.c.old == nil && e.c.new == nil {
		return nil
	}
	return p.ctx.Forward(runtime.Record[K, change[V]]{Key: e.key, Value: e.c, Timestamp: e.ts})
}

func saturatingSub(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// bufferHeap orders buffered updates by time, then arrival.
type bufferHeap[K, V any] []*buffered[K, V]

func (h bufferHeap[K, V]) Len() int { return len(h) }
func (h bufferHeap[K, V]) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time < h[j].time
	}
	return h[i].seq < h[j].seq
}
func (h bufferHeap[K, V]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *bufferHeap[K, V]) Push(x any)   { *h = append(*h, x.(*buffered[K, V])) }
func (h *bufferHeap[K, V]) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
