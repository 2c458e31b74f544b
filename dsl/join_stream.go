package dsl

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// Stream-stream joins follow Kafka Streams' KStream-KStream joins (with KIP-633's grace
// and the Kafka 3.1 fix of spurious left and outer results): each side's records are
// kept in a window store, and a record joins the other side's records of the same key
// whose timestamps lie within the JoinWindows of its own, whichever arrives first. A
// joined record carries the larger of the two timestamps.
//
// Time is the join's stream time: the largest timestamp either side has seen in the
// task. A left record at t stays open, able to join, until stream time passes
// t + after + grace; a right record at t until it passes t + before + grace. A record
// arriving after its own window closed is dropped.
//
// Left and outer joins keep records without a match in a store and emit them, joined
// with nil, only once their window has closed, in timestamp order with their own
// timestamp (and no headers), so no result without a match is ever followed by a
// match of the same record.
//
// Where we do better on purpose: two records join only while both are open. Kafka
// Streams, with before and after unequal, may still join a record with one whose
// window closed, after already emitting that one without a match.
//
// Both inputs must be co-partitioned; the runtime checks their partition counts when
// it starts (ErrCopartitioning), and a side whose keys changed upstream is first
// repartitioned.

// Join returns the pairs of records of s and other with equal keys and timestamps
// within w, each joined by joiner.
func (s Stream[K, V]) Join[VO, VR any](other Stream[K, VO], joiner func(V, VO) VR, w JoinWindows, opts ...StreamJoined[K, V, VO]) Stream[K, VR] {
	return streamJoin(s, other, w, opts, joinKinds{"KSTREAM-JOINTHIS", "KSTREAM-JOINOTHER"}, false, false,
		func(v *V, vo *VO) VR { return joiner(*v, *vo) })
}

// LeftJoin is Join that also emits each record of s that joined nothing, with a nil
// right value, once its window has closed.
func (s Stream[K, V]) LeftJoin[VO, VR any](other Stream[K, VO], joiner func(V, *VO) VR, w JoinWindows, opts ...StreamJoined[K, V, VO]) Stream[K, VR] {
	return streamJoin(s, other, w, opts, joinKinds{"KSTREAM-JOINTHIS", "KSTREAM-OUTEROTHER"}, true, false,
		func(v *V, vo *VO) VR { return joiner(*v, vo) })
}

// OuterJoin is Join that also emits each record of either side that joined nothing,
// with nil for the missing side, once its window has closed.
func (s Stream[K, V]) OuterJoin[VO, VR any](other Stream[K, VO], joiner func(*V, *VO) VR, w JoinWindows, opts ...StreamJoined[K, V, VO]) Stream[K, VR] {
	return streamJoin(s, other, w, opts, joinKinds{"KSTREAM-OUTERTHIS", "KSTREAM-OUTEROTHER"}, true, true, joiner)
}

// joinKinds are the generated-name kinds of a join's two side processors, as Kafka
// Streams names them.
type joinKinds struct{ this, other string }

// streamJoin adds the processors of a stream-stream join: one per side, which stores
// the side's records and looks up the other side's, and a merge node after both.
// keepLeft and keepRight say which sides' unmatched records are emitted.
func streamJoin[K, V, VO, VR any](s Stream[K, V], other Stream[K, VO], w JoinWindows, opts []StreamJoined[K, V, VO], kinds joinKinds, keepLeft, keepRight bool, combine func(*V, *VO) VR) Stream[K, VR] {
	b := s.b
	o := option(b, "Join", opts)
	thisName := b.processorName(suffixed(o.Name, "-this-join"), kinds.this)
	otherName := b.processorName(suffixed(o.Name, "-other-join"), kinds.other)
	mergeName := b.processorName(suffixed(o.Name, "-merge"), "KSTREAM-MERGE")
	out := Stream[K, VR]{b: b, node: mergeName, keys: s.keys, values: carry[VR](s.values)}
	if !b.sameBuilder("Join", other.b) {
		return out
	}
	before, after, grace, err := w.millis()
	if err != nil {
		b.fail(err)
		return out
	}
	thisStore := joinStoreName(b, o.StoreName, "-this-join-store", "KSTREAM-JOINTHIS")
	otherStore := joinStoreName(b, o.StoreName, "-other-join-store", "KSTREAM-JOINOTHER")
	var outerStore string
	if keepLeft || keepRight {
		outerStore = joinStoreName(b, o.StoreName, "-outer-shared-join-store", "KSTREAM-OUTERSHARED")
	}

	keys, values, otherValues := o.Keys, o.Values, o.OtherValues
	if keys == nil {
		keys = s.keys
	}
	if keys == nil {
		keys = other.keys
	}
	if values == nil {
		values = s.values
	}
	if otherValues == nil {
		otherValues = other.values
	}
	if keys == nil || values == nil || otherValues == nil {
		b.fail(fmt.Errorf("%w: join stores %s and %s: set StreamJoined.Keys, Values and OtherValues", ErrSerdeRequired, thisStore, otherStore))
		return out
	}
	out.keys = keys
	s.keys, s.values, other.keys, other.values = keys, values, keys, otherValues
	if s.rekeyed {
		s = repartition(s, joinRepartitionBase(o.Name, "-left", thisStore), Repartitioned[K, V]{})
	}
	if other.rekeyed {
		other = repartition(other, joinRepartitionBase(o.Name, "-right", otherStore), Repartitioned[K, VO]{})
	}

	spec := &windowJoinSpec[K, VR]{
		left: thisStore, right: otherStore, outer: outerStore, keys: keys, grace: grace,
		closeAfter: [2]int64{after, before},
		clocks:     map[any]*joinClock{},
	}
	spec.unmatched[joinLeft] = func(b []byte) (VR, error) {
		v, err := values.Decode(b)
		if err != nil {
			var zero VR
			return zero, err
		}
		return combine(&v, nil), nil
	}
	spec.unmatched[joinRight] = func(b []byte) (VR, error) {
		vo, err := otherValues.Decode(b)
		if err != nil {
			var zero VR
			return zero, err
		}
		return combine(nil, &vo), nil
	}
	addProcessor(b, thisName, func() runtime.Processor[K, V, K, VR] {
		return &windowJoin[K, V, VO, VR]{spec: spec, side: joinLeft, from: before, to: after, keep: keepLeft, values: values,
			match: func(v V, vo VO) VR { return combine(&v, &vo) }}
	}, s.node)
	addProcessor(b, otherName, func() runtime.Processor[K, VO, K, VR] {
		return &windowJoin[K, VO, V, VR]{spec: spec, side: joinRight, from: after, to: before, keep: keepRight, values: otherValues,
			match: func(vo VO, v V) VR { return combine(&v, &vo) }}
	}, other.node)
	addProcessor(b, mergeName, passThrough[K, VR](), thisName, otherName)

	storeOpts := runtime.StoreOptions{Persistent: !o.InMemory, Logging: !o.LoggingDisabled}
	size := max(before+after, 1)
	b.do(func() error {
		return b.top.AddStateStore(runtime.WindowStoreBuilder(thisStore, keys, values, state.WindowConfig{
			WindowSize: size, Retention: after + grace + 1, RetainDuplicates: true}, storeOpts), thisName, otherName)
	})
	b.do(func() error {
		return b.top.AddStateStore(runtime.WindowStoreBuilder(otherStore, keys, otherValues, state.WindowConfig{
			WindowSize: size, Retention: before + grace + 1, RetainDuplicates: true}, storeOpts), thisName, otherName)
	})
	if outerStore != "" {
		b.do(func() error {
			return b.top.AddStateStore(runtime.KeyValueStoreBuilder(outerStore, serde.Bytes(), serde.Bytes(), storeOpts), thisName, otherName)
		})
	}
	return out
}

// joinStoreName returns named+suffix when the user named the join's stores, else a
// generated name of kind.
func joinStoreName(b *Builder, named, suffix, kind string) string {
	if named != "" {
		return named + suffix
	}
	return b.storeName("", kind)
}

// joinRepartitionBase names the repartition topic of a rekeyed join input: after the
// join's Name as Kafka Streams does ("<name>-left"), else after the side's store.
func joinRepartitionBase(named, suffix, store string) string {
	if named != "" {
		return named + suffix
	}
	return store
}

// Sides of a stream-stream join, as recorded in its outer store.
const (
	joinLeft  = 0
	joinRight = 1
)

// windowJoinSpec is what both side processors of one join share.
type windowJoinSpec[K, VR any] struct {
	left, right, outer string // store names; outer is "" for an inner join
	keys               serde.Serde[K]
	grace              int64
	// closeAfter[side] is how long after its timestamp a record of that side may still
	// join: after for the left side, before for the right.
	closeAfter [2]int64
	// unmatched[side] decodes a kept record of that side and joins it with nil.
	unmatched [2]func([]byte) (VR, error)

	mu     sync.Mutex
	clocks map[any]*joinClock // by the task's left window store
}

// joinClock is the time of one task's instance of a join, shared by its two sides.
type joinClock struct {
	streamTime int64
	// minKept bounds from below the timestamps in the outer store; math.MinInt64 when
	// unknown.
	minKept int64
	refs    int
}

// clock returns the clock of the task whose left window store is left, creating it
// from the stores' recovered stream time.
func (s *windowJoinSpec[K, VR]) clock(left interface{ ObservedStreamTime() int64 }, right interface{ ObservedStreamTime() int64 }) *joinClock {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clocks[left]
	if !ok {
		c = &joinClock{streamTime: max(left.ObservedStreamTime(), right.ObservedStreamTime()), minKept: math.MinInt64}
		s.clocks[left] = c
	}
	c.refs++
	return c
}

func (s *windowJoinSpec[K, VR]) release(left any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clocks[left]; ok {
		if c.refs--; c.refs <= 0 {
			delete(s.clocks, left)
		}
	}
}

// windowJoin is one side of a stream-stream join: V is this side's values, VO the
// other's.
type windowJoin[K, V, VO, VR any] struct {
	spec *windowJoinSpec[K, VR]
	side int
	// A record of this side at t joins the other side's records in [t-from, t+to].
	from, to int64
	keep     bool // this side's unmatched records are emitted on close
	values   serde.Serde[V]
	match    func(V, VO) VR

	ctx      runtime.ProcessorContext[K, VR]
	this     *state.WindowStore[K, V]
	other    *state.WindowStore[K, VO]
	outer    *state.KeyValueStore[[]byte, []byte]
	clockKey any
	clock    *joinClock
}

func (p *windowJoin[K, V, VO, VR]) Init(ctx runtime.ProcessorContext[K, VR]) error {
	p.ctx = ctx
	thisName, otherName := p.spec.left, p.spec.right
	if p.side == joinRight {
		thisName, otherName = otherName, thisName
	}
	var err error
	if p.this, err = runtime.GetStore[*state.WindowStore[K, V]](ctx, thisName); err != nil {
		return err
	}
	if p.other, err = runtime.GetStore[*state.WindowStore[K, VO]](ctx, otherName); err != nil {
		return err
	}
	if p.spec.outer != "" {
		if p.outer, err = runtime.GetStore[*state.KeyValueStore[[]byte, []byte]](ctx, p.spec.outer); err != nil {
			return err
		}
	}
	left, right := any(p.this), any(p.other)
	if p.side == joinRight {
		left, right = right, left
	}
	p.clockKey = left
	p.clock = p.spec.clock(left.(interface{ ObservedStreamTime() int64 }), right.(interface{ ObservedStreamTime() int64 }))
	return nil
}

func (p *windowJoin[K, V, VO, VR]) Process(r runtime.Record[K, V]) error {
	c, t := p.clock, r.Timestamp
	advanced := t > c.streamTime
	if advanced {
		c.streamTime = t
	}
	if p.closed(p.side, t) {
		p.ctx.LateRecordDropped() // its window has closed
		return nil
	}
	if advanced && p.outer != nil {
		if err := p.emitClosed(); err != nil {
			return err
		}
	}
	if err := p.this.Put(r.Key, r.Value, t); err != nil {
		if errors.Is(err, state.ErrExpired) {
			// Older than the store keeps: its window has closed too.
			p.ctx.LateRecordDropped()
			return nil
		}
		return err
	}
	it, err := p.other.Fetch(r.Key, t-p.from, t+p.to)
	if err != nil {
		return err
	}
	defer it.Close()
	matched := false
	otherSide := 1 - p.side
	var kb []byte
	for it.Next() {
		ot := it.Key().Start
		if p.closed(otherSide, ot) {
			continue // it may already have been emitted without a match
		}
		matched = true
		if p.outer != nil {
			if kb == nil {
				if kb, err = p.spec.keys.Encode(r.Key); err != nil {
					return err
				}
			}
			if err := p.forget(otherSide, ot, kb); err != nil {
				return err
			}
		}
		out := runtime.Record[K, VR]{Key: r.Key, Value: p.match(r.Value, it.Value()), Timestamp: max(t, ot), Headers: r.Headers}
		if err := p.ctx.Forward(out); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if matched || !p.keep {
		return nil
	}
	return p.remember(r)
}

// closed reports whether a record of side at ts can no longer join.
func (p *windowJoin[K, V, VO, VR]) closed(side int, ts int64) bool {
	return ts+p.spec.closeAfter[side]+p.spec.grace < p.clock.streamTime
}

// remember keeps r in the outer store until its window closes or it joins.
func (p *windowJoin[K, V, VO, VR]) remember(r runtime.Record[K, V]) error {
	kb, err := p.spec.keys.Encode(r.Key)
	if err != nil {
		return err
	}
	vb, err := p.values.Encode(r.Value)
	if err != nil {
		return err
	}
	prefix := keptPrefix(r.Timestamp, p.side, kb)
	it, err := p.outer.PrefixScan(prefix)
	if err != nil {
		return err
	}
	n := uint32(0)
	for it.Next() {
		n++
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return err
	}
	if vb == nil {
		vb = []byte{}
	}
	if err := p.outer.Put(keptKey(prefix, n), vb); err != nil {
		return err
	}
	p.clock.minKept = min(p.clock.minKept, r.Timestamp)
	return nil
}

// forget removes the kept records of side at ts with key kb: they have joined.
func (p *windowJoin[K, V, VO, VR]) forget(side int, ts int64, kb []byte) error {
	it, err := p.outer.PrefixScan(keptPrefix(ts, side, kb))
	if err != nil {
		return err
	}
	var keys [][]byte
	for it.Next() {
		keys = append(keys, it.Key())
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := p.outer.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// emitClosed emits, in timestamp order, the kept records whose window has closed.
func (p *windowJoin[K, V, VO, VR]) emitClosed() error {
	spec, c := p.spec, p.clock
	earliest := min(spec.closeAfter[0], spec.closeAfter[1]) + spec.grace
	if c.minKept == math.MaxInt64 || (c.minKept != math.MinInt64 && c.minKept+earliest >= c.streamTime) {
		return nil // nothing kept can have closed
	}
	it, err := p.outer.All()
	if err != nil {
		return err
	}
	type due struct {
		key, value []byte
		ts         int64
		side       int
	}
	var emit []due
	next := int64(math.MaxInt64)
	for it.Next() {
		ts, side, _, err := splitKept(it.Key())
		if err != nil {
			it.Close()
			return err
		}
		if ts+earliest >= c.streamTime {
			next = min(next, ts)
			break
		}
		if p.closed(side, ts) {
			emit = append(emit, due{key: it.Key(), value: it.Value(), ts: ts, side: side})
		} else {
			next = min(next, ts)
		}
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return err
	}
	c.minKept = next
	for _, d := range emit {
		if err := p.outer.Delete(d.key); err != nil {
			return err
		}
		_, _, kb, _ := splitKept(d.key)
		k, err := spec.keys.Decode(kb)
		if err != nil {
			return err
		}
		v, err := spec.unmatched[d.side](d.value)
		if err != nil {
			return err
		}
		if err := p.ctx.Forward(runtime.Record[K, VR]{Key: k, Value: v, Timestamp: d.ts}); err != nil {
			return err
		}
	}
	return nil
}

func (p *windowJoin[K, V, VO, VR]) Close() error {
	p.spec.release(p.clockKey)
	return nil
}
