package dsl

import "github.com/eddy-io/eddy/runtime"

// Stream-table joins follow Kafka Streams' KStream-KTable joins: each stream record
// looks up the table's current value of its key, as of when the record is processed,
// and the result carries the stream record's timestamp and headers. Only the stream
// side triggers: a table update changes what later stream records find and emits
// nothing. A stream record processed before the table has its key finds nothing, so an
// inner join drops it and a left join emits it with a nil table value.
//
// The stream and the table must be co-partitioned (the runtime checks their partition
// counts when it starts, ErrCopartitioning); a stream whose keys changed upstream is
// first repartitioned, through the topic Joined names.
//
// Go cannot overload Join, so these are JoinTable and LeftJoinTable, and the joins with
// a global table JoinGlobalTable and LeftJoinGlobalTable.

// JoinTable joins each record of s with table's value of its key, dropping records
// whose key the table lacks.
func (s Stream[K, V]) JoinTable[VT, VR any](table Table[K, VT], joiner func(V, VT) VR, opts ...Joined[K, V]) Stream[K, VR] {
	return streamTableJoin(s, table, "KSTREAM-JOIN", opts, func(v V, vt *VT) (VR, bool) {
		if vt == nil {
			var zero VR
			return zero, false
		}
		return joiner(v, *vt), true
	})
}

// LeftJoinTable joins each record of s with table's value of its key, nil when the
// table lacks it.
func (s Stream[K, V]) LeftJoinTable[VT, VR any](table Table[K, VT], joiner func(V, *VT) VR, opts ...Joined[K, V]) Stream[K, VR] {
	return streamTableJoin(s, table, "KSTREAM-LEFTJOIN", opts, func(v V, vt *VT) (VR, bool) {
		return joiner(v, vt), true
	})
}

// streamTableJoin adds the processor looking each record of s up in table.
func streamTableJoin[K, V, VT, VR any](s Stream[K, V], table Table[K, VT], kind string, opts []Joined[K, V], combine func(V, *VT) (VR, bool)) Stream[K, VR] {
	b := s.b
	j := option(b, "JoinTable", opts)
	name := b.processorName(j.Name, kind)
	out := Stream[K, VR]{b: b, node: name, keys: s.keys, values: carry[VR](s.values)}
	if !b.sameBuilder("JoinTable", table.b) {
		return out
	}
	if j.Keys != nil {
		s.keys = j.Keys
	}
	if j.Values != nil {
		s.values = j.Values
	}
	if s.rekeyed {
		base := j.Name
		if base == "" {
			base = b.topicName("", "KSTREAM-JOIN-REPARTITION")
		}
		s = repartition(s, base, Repartitioned[K, V]{})
	}
	out.keys = s.keys
	get := table.get
	addProcessor(b, name, func() runtime.Processor[K, V, K, VR] {
		return &lookupJoin[K, V, K, VT, VR]{open: get.open, key: func(k K, _ V) K { return k }, combine: combine}
	}, s.node)
	if len(get.stores) > 0 {
		b.do(func() error { return b.top.ConnectProcessorAndStateStores(name, get.stores...) })
	}
	return out
}

// JoinGlobalTable joins each record of s with the value g holds for the key keyOf
// maps the record to, dropping records whose key g lacks (Kafka Streams' KStream-
// GlobalKTable join). Every instance holds g whole, so no co-partitioning is needed and
// s is never repartitioned; only s triggers, and it sees g as it is when each record is
// processed.
func (s Stream[K, V]) JoinGlobalTable[KG, VG, VR any](g GlobalTable[KG, VG], keyOf func(K, V) KG, joiner func(V, VG) VR, opts ...Named) Stream[K, VR] {
	return globalJoin(s, g, keyOf, "KSTREAM-JOIN", opts, func(v V, vg *VG) (VR, bool) {
		if vg == nil {
			var zero VR
			return zero, false
		}
		return joiner(v, *vg), true
	})
}

// LeftJoinGlobalTable is JoinGlobalTable that keeps the records whose key g lacks,
// joined with a nil value.
func (s Stream[K, V]) LeftJoinGlobalTable[KG, VG, VR any](g GlobalTable[KG, VG], keyOf func(K, V) KG, joiner func(V, *VG) VR, opts ...Named) Stream[K, VR] {
	return globalJoin(s, g, keyOf, "KSTREAM-LEFTJOIN", opts, func(v V, vg *VG) (VR, bool) {
		return joiner(v, vg), true
	})
}

func globalJoin[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], keyOf func(K, V) KG, kind string, opts []Named, combine func(V, *VG) (VR, bool)) Stream[K, VR] {
	name := s.b.processorName(s.b.named("JoinGlobalTable", opts), kind)
	open := storeGetter[KG, VG](g.store).open
	addProcessor(s.b, name, func() runtime.Processor[K, V, K, VR] {
		return &lookupJoin[K, V, KG, VG, VR]{open: open, key: keyOf, combine: combine}
	}, s.node)
	return Stream[K, VR]{b: s.b, node: name, keys: s.keys, values: carry[VR](s.values), rekeyed: s.rekeyed}
}

// lookupJoin joins each record with a table's current value of the key key gives it.
type lookupJoin[K, V, KT, VT, VR any] struct {
	open    func(storeContext) (lookup[KT, VT], error)
	key     func(K, V) KT
	combine func(V, *VT) (VR, bool)
	ctx     runtime.ProcessorContext[K, VR]
	get     lookup[KT, VT]
}

func (p *lookupJoin[K, V, KT, VT, VR]) Init(ctx runtime.ProcessorContext[K, VR]) error {
	p.ctx = ctx
	var err error
	p.get, err = p.open(ctx)
	return err
}

func (p *lookupJoin[K, V, KT, VT, VR]) Process(r runtime.Record[K, V]) error {
	vt, _, err := p.get(p.key(r.Key, r.Value))
	if err != nil {
		return err
	}
	out, ok := p.combine(r.Value, vt)
	if !ok {
		return nil
	}
	return p.ctx.Forward(runtime.WithValue(r, out))
}

func (p *lookupJoin[K, V, KT, VT, VR]) Close() error { return nil }
