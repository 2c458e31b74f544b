package dsl

import "github.com/eddy-io/eddy/runtime"

// Table-table joins follow Kafka Streams' KTable-KTable joins: an update on either side
// looks up the other side's current value of the key and forwards the change of the
// joined row, old and new, with the larger of the two timestamps. The two tables must
// be co-partitioned: keyed alike, with as many partitions, written with the same
// partitioner.
//
// The joiner's signature says which side may be missing: Join's joiner sees both
// values, LeftJoin's sees the right one as a pointer (nil when absent), and
// OuterJoin's sees both as pointers, never both nil. A row that stops joining is
// deleted from the result.
//
// Options are a Named and a Materialized[K, VR] (see [TableOption]). A Named n names the
// node producing the result n and the processors looking up each side
// "<n>-join-this" and "<n>-join-other", as Kafka Streams does; the result is kept in a
// store only when a Materialized is given, named by it or else generated.

// Join returns the table of the keys present in both t and other, with joiner's value.
func (t Table[K, V]) Join[VO, VR any](other Table[K, VO], joiner func(V, VO) VR, opts ...TableOption) Table[K, VR] {
	return join(t, other, "KTABLE-JOINTHIS", "KTABLE-JOINOTHER", func(l *V, r *VO) *VR {
		if l == nil || r == nil {
			return nil
		}
		v := joiner(*l, *r)
		return &v
	}, "Join", opts)
}

// LeftJoin returns the table of the keys present in t, with joiner's value; joiner gets
// a nil right value for the keys other lacks.
func (t Table[K, V]) LeftJoin[VO, VR any](other Table[K, VO], joiner func(V, *VO) VR, opts ...TableOption) Table[K, VR] {
	return join(t, other, "KTABLE-LEFTTHIS", "KTABLE-LEFTOTHER", func(l *V, r *VO) *VR {
		if l == nil {
			return nil
		}
		v := joiner(*l, r)
		return &v
	}, "LeftJoin", opts)
}

// OuterJoin returns the table of the keys present in t or other, with joiner's value;
// joiner gets nil for the side that lacks the key.
func (t Table[K, V]) OuterJoin[VO, VR any](other Table[K, VO], joiner func(*V, *VO) VR, opts ...TableOption) Table[K, VR] {
	return join(t, other, "KTABLE-OUTERTHIS", "KTABLE-OUTEROTHER", func(l *V, r *VO) *VR {
		if l == nil && r == nil {
			return nil
		}
		v := joiner(l, r)
		return &v
	}, "OuterJoin", opts)
}

// join adds a processor on each side that looks up the other side, and a merge node
// after both, which also materializes the result when Materialized is given.
func join[K, V, VO, VR any](t Table[K, V], other Table[K, VO], thisKind, otherKind string, combine func(*V, *VO) *VR, op string, opts []TableOption) Table[K, VR] {
	b := t.b
	o := tableOpts[K, VR](b, op, opts)
	m := o.m
	thisName := b.processorName(suffixed(o.named, "-join-this"), thisKind)
	otherName := b.processorName(suffixed(o.named, "-join-other"), otherKind)
	mergeName := b.processorName(o.named, "KTABLE-MERGE")
	if !b.sameBuilder("Join", other.b) {
		return Table[K, VR]{b: b, node: mergeName}
	}
	addProcessor(b, thisName, joinSide(other.get, combine), t.node)
	addProcessor(b, otherName, joinSide(t.get, func(r *VO, l *V) *VR { return combine(l, r) }), other.node)
	b.do(func() error { return b.top.ConnectProcessorAndStateStores(thisName, other.get.stores...) })
	b.do(func() error { return b.top.ConnectProcessorAndStateStores(otherName, t.get.stores...) })

	out := Table[K, VR]{b: b, node: mergeName, keys: t.keys, values: carry[VR](t.values)}
	if !o.materialized {
		addProcessor(b, mergeName, passThrough[K, change[VR]](), thisName, otherName)
		out.get = joinGetter(t.get, other.get, combine)
		return out
	}
	out.store = b.storeName(m.Name, "KTABLE-JOIN")
	addProcessor(b, mergeName, storeSupplier(out.store, func(w *tableWriter[K, VR], r runtime.Record[K, change[VR]]) error {
		return w.write(r)
	}), thisName, otherName)
	out.keys, out.values = addTableStore(b, out.store, m, out.keys, out.values, mergeName)
	out.get = storeGetter[K, VR](out.store)
	return out
}

// joinSide returns the supplier of one side's join processor: each change of this
// side, joined with the other side's current value, becomes a change of the result.
func joinSide[K, V, VO, VR any](other getter[K, VO], combine func(*V, *VO) *VR) func() runtime.Processor[K, change[V], K, change[VR]] {
	return func() runtime.Processor[K, change[V], K, change[VR]] {
		return &joinProcessor[K, V, VO, VR]{other: other, combine: combine}
	}
}

type joinProcessor[K, V, VO, VR any] struct {
	other   getter[K, VO]
	combine func(*V, *VO) *VR
	ctx     runtime.ProcessorContext[K, change[VR]]
	lookup  lookup[K, VO]
}

func (p *joinProcessor[K, V, VO, VR]) Init(ctx runtime.ProcessorContext[K, change[VR]]) error {
	p.ctx = ctx
	var err error
	p.lookup, err = p.other.open(ctx)
	return err
}

func (p *joinProcessor[K, V, VO, VR]) Process(r runtime.Record[K, change[V]]) error {
	o, ots, err := p.lookup(r.Key)
	if err != nil {
		return err
	}
	c := change[VR]{old: p.combine(r.Value.old, o), new: p.combine(r.Value.new, o)}
	if c.old == nil && c.new == nil {
		return nil // no joined row before or after
	}
	ts := r.Timestamp
	if o != nil {
		ts = max(ts, ots)
	}
	return p.ctx.Forward(runtime.Record[K, change[VR]]{Key: r.Key, Value: c, Timestamp: ts, Headers: r.Headers})
}

func (p *joinProcessor[K, V, VO, VR]) Close() error { return nil }

// joinGetter looks a key up on both sides and joins the values, for the nodes that
// read an unmaterialized join result.
func joinGetter[K, V, VO, VR any](left getter[K, V], right getter[K, VO], combine func(*V, *VO) *VR) getter[K, VR] {
	return getter[K, VR]{
		stores: append(append([]string{}, left.stores...), right.stores...),
		open: func(ctx storeContext) (lookup[K, VR], error) {
			l, err := left.open(ctx)
			if err != nil {
				return nil, err
			}
			r, err := right.open(ctx)
			if err != nil {
				return nil, err
			}
			return func(k K) (*VR, int64, error) {
				lv, lts, err := l(k)
				if err != nil {
					return nil, 0, err
				}
				rv, rts, err := r(k)
				if err != nil {
					return nil, 0, err
				}
				return combine(lv, rv), max(lts, rts), nil
			}, nil
		},
	}
}
