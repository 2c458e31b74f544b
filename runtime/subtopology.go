package runtime

import (
	"cmp"
	"slices"
)

// group is a sub-topology: the nodes connected by parent-child edges or by sharing a
// store, which must run together in one task. A repartition topic does not connect
// its sink to its source, so it splits a graph into sub-topologies.
type group struct {
	id     int
	nodes  []*node  // in addition order
	stores []string // stores its processors use, in addition order
	global bool     // feeds a global store and generates no tasks
}

// groups numbers the sub-topologies in the order their first source was added, global
// stores' feeds included, as Kafka Streams numbers them.
func (t *Topology) groups() []*group {
	parent := make(map[string]string, len(t.nodes))
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[ra] = rb
		}
	}
	for _, name := range t.nodeOrder {
		for _, p := range t.nodes[name].parents {
			union(name, p)
		}
	}
	for _, s := range t.storeOrder {
		procs := t.stores[s].processors
		for i := 1; i < len(procs); i++ {
			union(procs[0], procs[i])
		}
	}
	byRoot := map[string]*group{}
	var out []*group
	for _, name := range t.nodeOrder {
		n := t.nodes[name]
		if n.kind != kindSource {
			continue
		}
		r := find(name)
		if _, ok := byRoot[r]; !ok {
			g := &group{id: len(out), global: n.global}
			byRoot[r] = g
			out = append(out, g)
		}
	}
	for _, name := range t.nodeOrder {
		if g, ok := byRoot[find(name)]; ok {
			g.nodes = append(g.nodes, t.nodes[name])
		}
	}
	for _, s := range t.storeOrder {
		e := t.stores[s]
		if len(e.processors) == 0 {
			continue
		}
		if g, ok := byRoot[find(e.processors[0])]; ok {
			g.stores = append(g.stores, s)
		}
	}
	return out
}

// group returns sub-topology id, or nil.
func (t *Topology) group(id int) *group {
	for _, g := range t.groups() {
		if g.id == id {
			return g
		}
	}
	return nil
}

// Subtopology describes one sub-topology for the code that runs it: which topics its
// tasks read and write, and which stores they hold. Topic names are resolved for one
// application (repartition topics carry the application ID).
type Subtopology struct {
	// ID numbers the sub-topology, the first part of its task IDs.
	ID int
	// SourceTopics are read by its tasks; a task gets one partition of each, all with
	// the same partition number.
	SourceTopics []string
	// SinkTopics are the fixed topics its sinks write; sinks choosing a topic per
	// record are not listed.
	SinkTopics []string
	// RepartitionSources are the SourceTopics that are repartition topics.
	RepartitionSources []string
	// Stores are the state stores of each task, in the order they were added.
	Stores []string
	// ChangelogTopics are the changelog topics of its logged stores.
	ChangelogTopics []string
	// OffsetResets says, for each source topic, where to start without a committed
	// offset; repartition topics always start at the earliest offset, as in Kafka
	// Streams.
	OffsetResets map[string]OffsetReset
}

// RepartitionTopicInfo is a repartition topic the application creates.
type RepartitionTopicInfo struct {
	// Topic is the resolved name, "<app-id>-<name>-repartition".
	Topic string
	// Partitions is the partition count asked for; 0 means as many as the source
	// topics of the sub-topology that writes it.
	Partitions int32
	// WriterSubtopology is the sub-topology whose sink writes the topic (-1 if none).
	WriterSubtopology int
	// ReaderSubtopology is the sub-topology whose source reads it (-1 if none).
	ReaderSubtopology int
}

// GlobalStoreInfo is a global store and the topics that feed it.
type GlobalStoreInfo struct {
	// Store is the store's name.
	Store string
	// SourceTopics feed it, all partitions, on every instance.
	SourceTopics []string
	// Subtopology numbers its feed, which generates no tasks.
	Subtopology int
}

// Subtopologies returns the sub-topologies that generate tasks, resolved for appID,
// after checking the topology with Validate.
func (t *Topology) Subtopologies(appID string) ([]Subtopology, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var out []Subtopology
	for _, g := range t.groups() {
		if g.global {
			continue
		}
		st := Subtopology{ID: g.id, Stores: slices.Clone(g.stores), OffsetResets: map[string]OffsetReset{}}
		for _, n := range g.nodes {
			switch n.kind {
			case kindSource:
				for _, topic := range n.topics {
					resolved := t.resolveTopic(appID, topic)
					st.SourceTopics = append(st.SourceTopics, resolved)
					st.OffsetResets[resolved] = n.offsetReset
					if _, ok := t.repartitions[topic]; ok {
						st.RepartitionSources = append(st.RepartitionSources, resolved)
						st.OffsetResets[resolved] = OffsetResetEarliest
					}
				}
			case kindSink:
				if !n.sinkDynamic && !slices.Contains(st.SinkTopics, t.resolveTopic(appID, n.sinkTopic)) {
					st.SinkTopics = append(st.SinkTopics, t.resolveTopic(appID, n.sinkTopic))
				}
			}
		}
		for _, s := range g.stores {
			if t.stores[s].builder.Logged() {
				st.ChangelogTopics = append(st.ChangelogTopics, ChangelogTopic(appID, s))
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// RepartitionTopics returns the repartition topics, resolved for appID, in the order
// they were added.
func (t *Topology) RepartitionTopics(appID string) []RepartitionTopicInfo {
	groups := t.groups()
	groupOf := func(kind nodeKind, topic string) int {
		for _, g := range groups {
			for _, n := range g.nodes {
				if n.kind == kind && (n.sinkTopic == topic || slices.Contains(n.topics, topic)) {
					return g.id
				}
			}
		}
		return -1
	}
	out := make([]RepartitionTopicInfo, 0, len(t.repOrder))
	for _, topic := range t.repOrder {
		out = append(out, RepartitionTopicInfo{
			Topic:             t.resolveTopic(appID, topic),
			Partitions:        t.repartitions[topic].partitions,
			WriterSubtopology: groupOf(kindSink, topic),
			ReaderSubtopology: groupOf(kindSource, topic),
		})
	}
	return out
}

// GlobalStores returns the global stores in the order they were added.
func (t *Topology) GlobalStores() []GlobalStoreInfo {
	var out []GlobalStoreInfo
	groups := t.groups()
	for _, s := range t.storeOrder {
		e := t.stores[s]
		if !e.global {
			continue
		}
		info := GlobalStoreInfo{Store: s, SourceTopics: slices.Clone(t.nodes[e.globalFeed].topics), Subtopology: -1}
		for _, g := range groups {
			if g.global && slices.ContainsFunc(g.nodes, func(n *node) bool { return n.name == e.globalFeed }) {
				info.Subtopology = g.id
			}
		}
		out = append(out, info)
	}
	return out
}

// storesInFlushOrder sorts stores by the position of the first processor using each,
// parents before children.
func (t *Topology) storesInFlushOrder(stores []string) []string {
	first := func(s string) int {
		o := len(t.nodeOrder)
		for _, p := range t.stores[s].processors {
			o = min(o, t.nodes[p].order)
		}
		return o
	}
	out := slices.Clone(stores)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(first(a), first(b)) })
	return out
}
