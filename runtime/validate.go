package runtime

import "errors"

// Validate checks what the Add methods could not check one at a time: that there is
// a source, that every store is used, and that every repartition topic is read by a
// source and written by a sink. Parents, names and types are checked as nodes are
// added. The runtime and the test driver validate before they run a topology.
func (t *Topology) Validate() error {
	var errs []error
	if len(t.sourceTopics) == 0 {
		errs = append(errs, invalid("no source"))
	}
	for _, s := range t.storeOrder {
		if len(t.stores[s].processors) == 0 {
			errs = append(errs, invalid("store %q is connected to no processor", s))
		}
	}
	dynamicSink := false
	written := map[string]bool{}
	for _, name := range t.nodeOrder {
		n := t.nodes[name]
		if n.kind == kindSink {
			written[n.sinkTopic] = true
			dynamicSink = dynamicSink || n.sinkDynamic
		}
	}
	for _, topic := range t.repOrder {
		if _, ok := t.sourceTopics[topic]; !ok {
			errs = append(errs, invalid("repartition topic %q is read by no source", topic))
		}
		if !written[topic] && !dynamicSink {
			errs = append(errs, invalid("repartition topic %q is written by no sink", topic))
		}
	}
	return errors.Join(errs...)
}
