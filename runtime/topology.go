package runtime

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/eddy-io/eddy/serde"
)

// OffsetReset says where a source starts reading a partition that has no committed
// offset.
type OffsetReset int

const (
	// OffsetResetDefault leaves the choice to the application's configuration.
	OffsetResetDefault OffsetReset = iota
	// OffsetResetEarliest starts at the first offset the broker still holds.
	OffsetResetEarliest
	// OffsetResetLatest starts at the end, with only records written from then on.
	OffsetResetLatest
)

// nodeKind tells sources, processors and sinks apart.
type nodeKind int

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

// node is one node of a topology as the builder records it: its place in the graph,
// its types, and how to make the instance a task runs.
type node struct {
	name     string
	kind     nodeKind
	order    int // position in addition order; parents always come first
	parents  []string
	children []string
	stores   []string // stores connected to a processor, in connection order

	keyIn, valIn, keyOut, valOut reflect.Type

	// Sources.
	topics      []string
	pattern     string
	timestamps  TimestampExtractor
	offsetReset OffsetReset

	// Sinks.
	sinkTopic   string
	sinkDynamic bool

	global bool // part of a global store's feed
	build  func(b *taskBuild) builtNode
}

// storeEntry is a registered store and the processors that use it.
type storeEntry struct {
	builder    StoreBuilder
	order      int
	processors []string
	global     bool
	globalFeed string // the source feeding a global store
}

// repartitionEntry is a registered repartition topic.
type repartitionEntry struct {
	name       string
	partitions int32
	order      int
}

// Topology is a graph of sources, processors and sinks with their state stores, built
// with the Add methods and run as tasks by the runtime or the test driver. Nodes and
// stores have unique names; a node's parents must be added before it, so a topology
// has no cycles by construction. The same Topology may run many tasks at once but must
// not be changed while it does.
type Topology struct {
	nodes        map[string]*node
	nodeOrder    []string
	stores       map[string]*storeEntry
	storeOrder   []string
	sourceTopics map[string]string // topic to the source reading it
	repartitions map[string]*repartitionEntry
	repOrder     []string
	next         int
}

// NewTopology returns an empty topology.
func NewTopology() *Topology {
	return &Topology{
		nodes:        map[string]*node{},
		stores:       map[string]*storeEntry{},
		sourceTopics: map[string]string{},
		repartitions: map[string]*repartitionEntry{},
	}
}

// SourceConfig configures a source node: the topics it reads and how it turns their
// bytes into typed records.
//
// Null keys and values (nil bytes) are handed to the serdes as they are: serde.Bytes
// and serde.Nullable carry null as nil. A serde that cannot represent null fails with
// serde.ErrNull, and the source then uses the zero K or V instead of failing the
// record, so a tombstone on a stream of strings becomes "". Topologies that must tell
// tombstones apart (tables, aggregations) read with serde.Nullable.
type SourceConfig[K, V any] struct {
	// Topics are the topics read; a repartition topic is named by InternalTopic.
	Topics []string
	// TopicPattern would subscribe by regular expression; not supported yet.
	TopicPattern string
	// Keys decodes record keys.
	Keys serde.Serde[K]
	// Values decodes record values.
	Values serde.Serde[V]
	// Timestamps picks each record's timestamp; nil uses the timestamp the record
	// carries. A negative timestamp skips the record (see TaskMetrics).
	Timestamps TimestampExtractor
	// OffsetReset applies to partitions without a committed offset.
	OffsetReset OffsetReset
}

// SinkConfig configures a sink node: where its records go and how they are encoded.
type SinkConfig[K, V any] struct {
	// Topic is a fixed destination topic; a repartition topic is named by
	// InternalTopic.
	Topic string
	// TopicFunc chooses a topic per record instead of Topic (Kafka's
	// TopicNameExtractor).
	TopicFunc func(r Record[K, V]) string
	// Keys encodes record keys.
	Keys serde.Serde[K]
	// Values encodes record values.
	Values serde.Serde[V]
	// Partitioner picks a partition; nil, or false from it, leaves the choice to the
	// producer, which hashes the key bytes with Kafka's murmur2 (see DefaultPartition).
	Partitioner func(topic string, key K, value V, numPartitions int32) (int32, bool)
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidTopology}, args...)...)
}

// addNode registers n after checking its name and parents.
func (t *Topology) addNode(n *node, parents []string) error {
	if n.name == "" {
		return invalid("empty node name")
	}
	if _, dup := t.nodes[n.name]; dup {
		return invalid("node %q added twice", n.name)
	}
	if n.kind != kindSource && len(parents) == 0 {
		return invalid("node %q has no parent", n.name)
	}
	for i, p := range parents {
		pn, ok := t.nodes[p]
		if !ok {
			return invalid("node %q: unknown parent %q", n.name, p)
		}
		if slices.Contains(parents[:i], p) {
			return invalid("node %q: parent %q given twice", n.name, p)
		}
		if pn.kind == kindSink {
			return invalid("node %q: parent %q is a sink", n.name, p)
		}
		if pn.global {
			return invalid("node %q: parent %q feeds a global store", n.name, p)
		}
		if pn.keyOut != n.keyIn || pn.valOut != n.valIn {
			return invalid("node %q takes Record[%v, %v] but parent %q forwards Record[%v, %v]",
				n.name, n.keyIn, n.valIn, p, pn.keyOut, pn.valOut)
		}
	}
	n.parents = slices.Clone(parents)
	n.order = t.next
	t.next++
	for _, p := range parents {
		t.nodes[p].children = append(t.nodes[p].children, n.name)
	}
	t.nodes[n.name] = n
	t.nodeOrder = append(t.nodeOrder, n.name)
	return nil
}

// AddSource adds a source node reading cfg.Topics. A topic may be read by one source
// only.
func (t *Topology) AddSource[K, V any](name string, cfg SourceConfig[K, V]) error {
	n, err := t.sourceNode(name, cfg)
	if err != nil {
		return err
	}
	if err := t.addNode(n, nil); err != nil {
		return err
	}
	for _, topic := range n.topics {
		t.sourceTopics[topic] = name
	}
	return nil
}

// sourceNode checks cfg and makes the node of a source.
func (t *Topology) sourceNode[K, V any](name string, cfg SourceConfig[K, V]) (*node, error) {
	if cfg.TopicPattern != "" {
		return nil, invalid("source %q: topic patterns are not supported", name)
	}
	if len(cfg.Topics) == 0 {
		return nil, invalid("source %q reads no topic", name)
	}
	if cfg.Keys == nil || cfg.Values == nil {
		return nil, invalid("source %q: key and value serdes are required", name)
	}
	for i, topic := range cfg.Topics {
		if topic == "" {
			return nil, invalid("source %q: empty topic name", name)
		}
		if other, ok := t.sourceTopics[topic]; ok || slices.Contains(cfg.Topics[:i], topic) {
			return nil, invalid("source %q: topic %q is already read by source %q", name, topic, other)
		}
	}
	keys, values := cfg.Keys, cfg.Values
	return &node{
		name:        name,
		kind:        kindSource,
		keyOut:      typeOf[K](),
		valOut:      typeOf[V](),
		topics:      slices.Clone(cfg.Topics),
		timestamps:  cfg.Timestamps,
		offsetReset: cfg.OffsetReset,
		build: func(b *taskBuild) builtNode {
			return &sourceNode[K, V]{procContext: newContext[K, V](b, name), keys: keys, values: values}
		},
	}, nil
}

// AddProcessor adds a processor under parents, which must forward Record[KIn, VIn].
// supplier is called once per task for a fresh processor.
func (t *Topology) AddProcessor[KIn, VIn, KOut, VOut any](name string, supplier func() Processor[KIn, VIn, KOut, VOut], parents ...string) error {
	if supplier == nil {
		return invalid("processor %q has no supplier", name)
	}
	return t.addNode(&node{
		name:   name,
		kind:   kindProcessor,
		keyIn:  typeOf[KIn](),
		valIn:  typeOf[VIn](),
		keyOut: typeOf[KOut](),
		valOut: typeOf[VOut](),
		build: func(b *taskBuild) builtNode {
			return &processorNode[KIn, VIn, KOut, VOut]{procContext: newContext[KOut, VOut](b, name), proc: supplier()}
		},
	}, parents)
}

// AddSink adds a sink under parents, which must forward Record[K, V].
func (t *Topology) AddSink[K, V any](name string, cfg SinkConfig[K, V], parents ...string) error {
	if (cfg.Topic == "") == (cfg.TopicFunc == nil) {
		return invalid("sink %q needs exactly one of Topic and TopicFunc", name)
	}
	if cfg.Keys == nil || cfg.Values == nil {
		return invalid("sink %q: key and value serdes are required", name)
	}
	return t.addNode(&node{
		name:        name,
		kind:        kindSink,
		keyIn:       typeOf[K](),
		valIn:       typeOf[V](),
		sinkTopic:   cfg.Topic,
		sinkDynamic: cfg.TopicFunc != nil,
		build: func(b *taskBuild) builtNode {
			return &sinkNode[K, V]{name: name, task: b.task, cfg: cfg, topic: b.resolve(cfg.Topic)}
		},
	}, parents)
}

// repartitionSuffix ends every repartition topic name.
const repartitionSuffix = "-repartition"

// AddRepartitionTopic registers the internal topic InternalTopic(name), which the
// runtime creates as "<app-id>-<name>-repartition" with partitions partitions (0: as
// many as the source topics upstream of its sink have) and the test driver keeps in
// memory. A sink must write it and a source read it.
func (t *Topology) AddRepartitionTopic(name string, partitions int32) error {
	if name == "" {
		return invalid("empty repartition topic name")
	}
	if partitions < 0 {
		return invalid("repartition topic %q: negative partition count %d", name, partitions)
	}
	topic := t.InternalTopic(name)
	if _, dup := t.repartitions[topic]; dup {
		return invalid("repartition topic %q added twice", name)
	}
	t.repartitions[topic] = &repartitionEntry{name: topic, partitions: partitions, order: len(t.repOrder)}
	t.repOrder = append(t.repOrder, topic)
	return nil
}

// InternalTopic returns how sources and sinks refer to the repartition topic name:
// "<name>-repartition", the name Describe shows. Tasks resolve it to
// RepartitionTopic(appID, name).
func (t *Topology) InternalTopic(name string) string { return name + repartitionSuffix }

// RepartitionTopic returns the topic the runtime uses for repartition topic name.
func RepartitionTopic(appID, name string) string { return appID + "-" + name + repartitionSuffix }

// ChangelogTopic returns the changelog topic of store in application appID.
func ChangelogTopic(appID, store string) string { return appID + "-" + store + "-changelog" }

// resolveTopic turns a topic as the topology names it into the topic a task uses.
func (t *Topology) resolveTopic(appID, topic string) string {
	if _, ok := t.repartitions[topic]; ok {
		return appID + "-" + topic
	}
	return topic
}

// AddStateStore registers the store b builds and connects it to processors, which
// may be empty if ConnectProcessorAndStateStores follows.
func (t *Topology) AddStateStore(b StoreBuilder, processors ...string) error {
	if b == nil || b.Name() == "" {
		return invalid("store without a name")
	}
	if _, dup := t.stores[b.Name()]; dup {
		return invalid("store %q added twice", b.Name())
	}
	for _, p := range processors {
		if err := t.checkConnect(p, b.Name()); err != nil {
			return err
		}
	}
	t.stores[b.Name()] = &storeEntry{builder: b, order: len(t.storeOrder)}
	t.storeOrder = append(t.storeOrder, b.Name())
	for _, p := range processors {
		t.connect(p, b.Name())
	}
	return nil
}

// ConnectProcessorAndStateStores gives processor access to stores, which must have
// been added.
func (t *Topology) ConnectProcessorAndStateStores(processor string, stores ...string) error {
	for _, s := range stores {
		if _, ok := t.stores[s]; !ok {
			return fmt.Errorf("%w: processor %q: %w %q", ErrInvalidTopology, processor, ErrUnknownStore, s)
		}
		if err := t.checkConnect(processor, s); err != nil {
			return err
		}
	}
	for _, s := range stores {
		t.connect(processor, s)
	}
	return nil
}

func (t *Topology) checkConnect(processor, store string) error {
	n, ok := t.nodes[processor]
	if !ok {
		return invalid("store %q: unknown processor %q", store, processor)
	}
	if n.kind != kindProcessor {
		return invalid("store %q: node %q is not a processor", store, processor)
	}
	if n.global {
		return invalid("store %q: processor %q feeds a global store", store, processor)
	}
	if e := t.stores[store]; e != nil && e.global {
		return invalid("global store %q is readable by every processor and takes no connections", store)
	}
	return nil
}

func (t *Topology) connect(processor, store string) {
	n := t.nodes[processor]
	if !slices.Contains(n.stores, store) {
		n.stores = append(n.stores, store)
	}
	e := t.stores[store]
	if !slices.Contains(e.processors, processor) {
		e.processors = append(e.processors, processor)
	}
}

// AddGlobalStore adds a store that every task can read, fed on every instance by a
// source reading all partitions of src.Topics through processorName, which alone
// writes it. The source topic is the store's changelog, so b must not be logged.
func (t *Topology) AddGlobalStore[K, V any](b StoreBuilder, sourceName string, src SourceConfig[K, V], processorName string, supplier func() Processor[K, V, struct{}, struct{}]) error {
	if b == nil || b.Name() == "" {
		return invalid("global store without a name")
	}
	if _, dup := t.stores[b.Name()]; dup {
		return invalid("store %q added twice", b.Name())
	}
	if b.Logged() {
		return invalid("global store %q: its source topic is its changelog; turn logging off", b.Name())
	}
	if supplier == nil {
		return invalid("global store %q: processor %q has no supplier", b.Name(), processorName)
	}
	if sourceName == processorName {
		return invalid("global store %q: source and processor both named %q", b.Name(), sourceName)
	}
	if _, dup := t.nodes[processorName]; dup {
		return invalid("node %q added twice", processorName)
	}
	sn, err := t.sourceNode(sourceName, src)
	if err != nil {
		return err
	}
	if err := t.addNode(sn, nil); err != nil {
		return err
	}
	for _, topic := range sn.topics {
		t.sourceTopics[topic] = sourceName
	}
	pn := &node{
		name:   processorName,
		kind:   kindProcessor,
		keyIn:  typeOf[K](),
		valIn:  typeOf[V](),
		keyOut: typeOf[struct{}](),
		valOut: typeOf[struct{}](),
		build: func(b *taskBuild) builtNode {
			return &processorNode[K, V, struct{}, struct{}]{procContext: newContext[struct{}, struct{}](b, processorName), proc: supplier()}
		},
	}
	if err := t.addNode(pn, []string{sourceName}); err != nil {
		return err
	}
	sn.global, pn.global = true, true
	pn.stores = []string{b.Name()}
	t.stores[b.Name()] = &storeEntry{builder: b, order: len(t.storeOrder), processors: []string{processorName}, global: true, globalFeed: sourceName}
	t.storeOrder = append(t.storeOrder, b.Name())
	return nil
}
