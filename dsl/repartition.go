package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
)

// repartition sends s through the internal topic "<app-id>-<base>-repartition": a sink
// named <base>-repartition-sink writes it and a source named <base>-repartition-source
// reads it back, starting a new sub-topology, keyed as the records now are.
func repartition[K, V any](s Stream[K, V], base string, r Repartitioned[K, V]) Stream[K, V] {
	b := s.b
	keys, values := r.Keys, r.Values
	if keys == nil {
		keys = s.keys
	}
	if values == nil {
		values = s.values
	}
	sink, source := base+"-repartition-sink", base+"-repartition-source"
	if b.repartitioned[base] == s.node {
		// The same grouping aggregated again under the same Grouped name: one topic
		// serves both, where Kafka Streams fails the topology.
		return Stream[K, V]{b: b, node: source, keys: keys, values: values}
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("%w: repartition topic %s-repartition after %s: set the Keys and Values of Grouped or Repartitioned", ErrSerdeRequired, base, s.node))
		return s // downstream still attaches somewhere, so Build reports only this
	}
	b.do(func() error { return b.top.AddRepartitionTopic(base, r.Partitions) })
	if _, taken := b.repartitioned[base]; !taken {
		b.repartitioned[base] = s.node
	}
	topic := b.top.InternalTopic(base)
	b.do(func() error {
		return b.top.AddSink(sink, runtime.SinkConfig[K, V]{Topic: topic, Keys: keys, Values: values, Partitioner: r.Partitioner}, s.node)
	})
	b.do(func() error {
		return b.top.AddSource(source, runtime.SourceConfig[K, V]{Topics: []string{topic}, Keys: keys, Values: values})
	})
	return Stream[K, V]{b: b, node: source, keys: keys, values: values}
}

// grouped returns s ready for an aggregation: as is when its records sit in the
// partition of their key, else through a repartition topic named by g, or after base
// (the aggregate's store) when g has no name, as Kafka Streams names it.
func grouped[K, V any](s Stream[K, V], g Grouped[K, V], base string) Stream[K, V] {
	if g.Keys != nil {
		s.keys = g.Keys
	}
	if g.Values != nil {
		s.values = g.Values
	}
	if !s.rekeyed {
		return s
	}
	if g.Name != "" {
		base = g.Name
	}
	return repartition(s, base, Repartitioned[K, V]{})
}
