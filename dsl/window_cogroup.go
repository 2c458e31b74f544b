package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// TimeWindowedCogroupedStream is a cogroup windowed by TimeWindows or SlidingWindows:
// Kafka Streams' TimeWindowedCogroupedKStream. Every input folds its records into the
// windows of one shared window store.
type TimeWindowedCogroupedStream[K, VR any] struct {
	c CogroupedStream[K, VR]
	w windowSpec
}

// SessionWindowedCogroupedStream is a cogroup windowed by SessionWindows: Kafka
// Streams' SessionWindowedCogroupedKStream.
type SessionWindowedCogroupedStream[K, VR any] struct {
	c          CogroupedStream[K, VR]
	gap, grace int64
}

// windowedInput is how a windowed cogroup's inputs aggregate: into time windows, or
// sessions when session is set, counting the records they drop in dropped.
type windowedInput[K, VR any] struct {
	spec       windowSpec
	session    bool
	gap, grace int64
	init       func() VR
	merge      func(K, VR, VR) VR
	dropped    *windowedNode
}

// WindowedBy windows the cogroup by w, TimeWindows or SlidingWindows.
func (c CogroupedStream[K, VR]) WindowedBy(w Windows) TimeWindowedCogroupedStream[K, VR] {
	spec, err := w.spec()
	if err != nil {
		c.b.fail(err)
	}
	return TimeWindowedCogroupedStream[K, VR]{c: c, w: spec}
}

// SessionWindowedBy windows the cogroup by session windows.
func (c CogroupedStream[K, VR]) SessionWindowedBy(w SessionWindows) SessionWindowedCogroupedStream[K, VR] {
	gap, grace, err := w.spec()
	if err != nil {
		c.b.fail(err)
	}
	return SessionWindowedCogroupedStream[K, VR]{c: c, gap: gap, grace: grace}
}

// Aggregate returns the table of each key's aggregate per window: init gives a new
// window's aggregate. Materialized.Values is required. Options are a Named, a
// Materialized[K, VR] and an EmitStrategy, named as CogroupedStream.Aggregate names
// them; EmitOnWindowClose adds a Suppress(UntilWindowCloses) with an unbounded buffer
// after the merge. Late records are counted under the merge processor's name. WK is
// serde.Windowed[K], inferred (see TimeWindowedStream.Count).
func (w TimeWindowedCogroupedStream[K, VR]) Aggregate[WK interface{ serde.Windowed[K] }](init func() VR, opts ...TableOption) Table[WK, VR] {
	o := windowOpts[K, VR](w.c.b, "Aggregate", opts)
	closeAfter := w.w.grace
	if w.w.sliding {
		closeAfter++
	}
	return cogroupWindowed[WK](w.c, o, closeAfter, windowedInput[K, VR]{spec: w.w, init: init}, func(b *Builder, store string, keys serde.Serde[K], procs []string) (serde.Serde[serde.Windowed[K]], serde.Serde[VR], getter[serde.Windowed[K], VR]) {
		keys, values := addWindowStore(b, store, o.m, keys, nil, w.w, procs...)
		var wkeys serde.Serde[serde.Windowed[K]]
		if keys != nil {
			wkeys = serde.TimeWindowedKey(keys, w.w.size)
		}
		return wkeys, values, windowStoreGetter[K, VR](store)
	})
}

// Aggregate returns the table of each key's aggregate per session: init gives a new
// session's aggregate and merge combines two sessions a record bridges. Options are as
// for TimeWindowedCogroupedStream.Aggregate.
func (w SessionWindowedCogroupedStream[K, VR]) Aggregate[WK interface{ serde.Windowed[K] }](init func() VR, merge func(K, VR, VR) VR, opts ...TableOption) Table[WK, VR] {
	o := windowOpts[K, VR](w.c.b, "Aggregate", opts)
	in := windowedInput[K, VR]{session: true, gap: w.gap, grace: w.grace, init: init, merge: merge}
	return cogroupWindowed[WK](w.c, o, w.gap+w.grace+1, in, func(b *Builder, store string, keys serde.Serde[K], procs []string) (serde.Serde[serde.Windowed[K]], serde.Serde[VR], getter[serde.Windowed[K], VR]) {
		keys, values := addSessionStore(b, store, o.m, keys, nil, w.gap+w.grace+1, procs...)
		var wkeys serde.Serde[serde.Windowed[K]]
		if keys != nil {
			wkeys = serde.SessionKey(keys)
		}
		return wkeys, values, sessionStoreGetter[K, VR](store)
	})
}

// cogroupWindowed adds a windowed cogroup: each input's processor over one store that
// addStore adds, and the merge node, which the table reads from.
func cogroupWindowed[WK, K, VR any](c CogroupedStream[K, VR], o windowOptions[K, VR], closeAfter int64, in windowedInput[K, VR], addStore func(b *Builder, store string, keys serde.Serde[K], procs []string) (serde.Serde[serde.Windowed[K]], serde.Serde[VR], getter[serde.Windowed[K], VR])) Table[WK, VR] {
	b := c.b
	store := b.storeName(o.m.Name, "COGROUPKSTREAM-AGGREGATE")
	node := &windowedNode{closeAfter: closeAfter, end: func(k any) int64 { return k.(serde.Windowed[K]).End }}
	in.dropped = node
	procs := make([]string, len(c.inputs))
	var keys serde.Serde[K]
	for i, input := range c.inputs {
		procs[i] = input.windowed(store, suffixed(o.named, fmt.Sprintf("-cogroup-agg-%d", i)), i, in)
		if keys == nil {
			keys = input.keys
		}
	}
	name := b.processorName(suffixed(o.named, "-cogroup-merge"), "COGROUPKSTREAM-MERGE")
	b.windowed[name] = node
	addProcessor(b, name, passThrough[serde.Windowed[K], change[VR]](), procs...)
	wkeys, values, get := addStore(b, store, keys, procs)
	t := windowedTable[WK](b, name, store, wkeys, values, get)
	if o.emitFinal {
		t = t.Suppress(UntilWindowCloses(BufferConfig{}), Named(suffixed(o.named, "-emit-final")))
	}
	return t
}

// addWindowedInput adds input index of a windowed cogroup: its repartition, if any,
// and its processor, named name or else generated, folding g's records with agg into
// store. It returns the processor's name.
func addWindowedInput[K, V, VR any](g GroupedStream[K, V], agg func(K, V, VR) VR, store, name string, index int, w windowedInput[K, VR]) string {
	b := g.s.b
	s := grouped(g.s, g.g, fmt.Sprintf("%s-%d", store, index))
	name = b.processorName(name, "COGROUPKSTREAM-AGGREGATE")
	fold := freshOr(w.init, agg)
	if w.session {
		addProcessor(b, name, func() runtime.Processor[K, V, serde.Windowed[K], change[VR]] {
			return &sessionProcessor[K, V, VR]{store: store, gap: w.gap, grace: w.grace, fold: fold, merge: w.merge, dropped: &w.dropped.dropped, obs: newObserver()}
		}, s.node)
		return name
	}
	addProcessor(b, name, func() runtime.Processor[K, V, serde.Windowed[K], change[VR]] {
		return &windowProcessor[K, V, VR]{store: store, spec: w.spec, fold: fold, dropped: &w.dropped.dropped, obs: newObserver()}
	}, s.node)
	return name
}
