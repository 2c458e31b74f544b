package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/serde"
)

// CogroupedStream aggregates several grouped streams, of different value types, into
// one table of aggregates sharing one store: Kafka Streams' CogroupedKStream. Each
// input folds its records into the common aggregate with its own aggregator. Inputs
// whose keys changed are each repartitioned first.
type CogroupedStream[K, VR any] struct {
	b      *Builder
	inputs []cogroupInput[K, VR]
}

// cogroupInput is one input of a cogroup, kept as a function because its value type
// is not the cogroup's: add adds its repartition, if any, and its aggregate processor,
// named name or else generated, over store, and returns the processor's name.
type cogroupInput[K, VR any] struct {
	keys serde.Serde[K]
	add  func(store, name string, index int, init func() VR) string
	// windowed is add for a windowed cogroup.
	windowed func(store, name string, index int, w windowedInput[K, VR]) string
}

// Cogroup starts a cogroup with g as its first input, folded by agg.
func (g GroupedStream[K, V]) Cogroup[VR any](agg func(K, V, VR) VR) CogroupedStream[K, VR] {
	return CogroupedStream[K, VR]{b: g.s.b, inputs: []cogroupInput[K, VR]{cogroupInputOf(g, agg)}}
}

// Cogroup adds g as an input folded by agg.
func (c CogroupedStream[K, VR]) Cogroup[V any](g GroupedStream[K, V], agg func(K, V, VR) VR) CogroupedStream[K, VR] {
	if !c.b.sameBuilder("Cogroup", g.s.b) {
		return c
	}
	c.inputs = append(c.inputs[:len(c.inputs):len(c.inputs)], cogroupInputOf(g, agg))
	return c
}

func cogroupInputOf[K, V, VR any](g GroupedStream[K, V], agg func(K, V, VR) VR) cogroupInput[K, VR] {
	keys := g.g.Keys
	if keys == nil {
		keys = g.s.keys
	}
	return cogroupInput[K, VR]{keys: keys, add: func(store, name string, index int, init func() VR) string {
		b := g.s.b
		s := grouped(g.s, g.g, fmt.Sprintf("%s-%d", store, index))
		name = b.processorName(name, "COGROUPKSTREAM-AGGREGATE")
		addProcessor(b, name, storeSupplier(store, fold(func(k K, v V) VR { return agg(k, v, init()) }, agg)), s.node)
		return name
	}, windowed: func(store, name string, index int, w windowedInput[K, VR]) string {
		return addWindowedInput(g, agg, store, name, index, w)
	}}
}

// Aggregate returns the table of the aggregates: init gives the aggregate of a key not
// seen yet. Materialized.Values (the aggregate's serde) is required. Without a
// Grouped name, input i (from 0, in the order of the Cogroup calls) repartitions
// through "<app-id>-<store>-<i>-repartition".
//
// Options are a Named and a Materialized[K, VR]. As in Kafka Streams, a Named n names
// input i's processor "<n>-cogroup-agg-<i>" and the node merging them
// "<n>-cogroup-merge", and names neither the store nor the repartition topics.
func (c CogroupedStream[K, VR]) Aggregate(init func() VR, opts ...TableOption) Table[K, VR] {
	b := c.b
	o := tableOpts[K, VR](b, "Aggregate", opts)
	m := o.m
	store := b.storeName(m.Name, "COGROUPKSTREAM-AGGREGATE")
	procs := make([]string, len(c.inputs))
	var keys serde.Serde[K]
	for i, in := range c.inputs {
		procs[i] = in.add(store, suffixed(o.named, fmt.Sprintf("-cogroup-agg-%d", i)), i, init)
		if keys == nil {
			keys = in.keys
		}
	}
	name := b.processorName(suffixed(o.named, "-cogroup-merge"), "COGROUPKSTREAM-MERGE")
	addProcessor(b, name, passThrough[K, change[VR]](), procs...)
	keys, values := addTableStore(b, store, m, keys, nil, procs...)
	return Table[K, VR]{b: b, node: name, keys: keys, values: values, get: storeGetter[K, VR](store), store: store}
}
