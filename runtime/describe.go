package runtime

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// NodeType tells the kinds of node apart in a description.
type NodeType int

const (
	// SourceNode reads topics.
	SourceNode NodeType = iota
	// ProcessorNode runs a processor.
	ProcessorNode
	// SinkNode writes a topic.
	SinkNode
)

// TopologyDescription is the structure of a topology, as Kafka Streams'
// TopologyDescription: its sub-topologies with their nodes, and its global stores.
type TopologyDescription struct {
	// Subtopologies are those that generate tasks, by ID.
	Subtopologies []SubtopologyDescription
	// GlobalStores are the global stores, by the ID of their feed.
	GlobalStores []GlobalStoreDescription
}

// SubtopologyDescription is one sub-topology.
type SubtopologyDescription struct {
	ID int
	// Nodes are sorted as Kafka sorts them: by the size of their sub-tree, largest
	// first, then by name.
	Nodes []NodeDescription
}

// GlobalStoreDescription is a global store with the source and processor feeding it.
type GlobalStoreDescription struct {
	ID        int
	Store     string
	Source    NodeDescription
	Processor NodeDescription
}

// NodeDescription is one node.
type NodeDescription struct {
	Name string
	Type NodeType
	// Topics are a source's topics; repartition topics by their bare name.
	Topics []string
	// Topic is a sink's fixed topic; empty when TopicExtractor is set.
	Topic string
	// TopicExtractor is set for sinks choosing a topic per record.
	TopicExtractor bool
	// Stores are a processor's stores, sorted.
	Stores []string
	// Predecessors and Successors are sorted as Nodes are.
	Predecessors []string
	Successors   []string
}

// Describe returns the structure of the topology. Its String is Kafka Streams' text and
// Mermaid a flowchart.
func (t *Topology) Describe() *TopologyDescription {
	d := &TopologyDescription{}
	for _, g := range t.groups() {
		nodes := t.describeGroup(g)
		if !g.global {
			d.Subtopologies = append(d.Subtopologies, SubtopologyDescription{ID: g.id, Nodes: nodes})
			continue
		}
		gs := GlobalStoreDescription{ID: g.id}
		for _, n := range nodes {
			if n.Type == SourceNode {
				gs.Source = n
			} else {
				gs.Processor = n
				if len(n.Stores) > 0 {
					gs.Store = n.Stores[0]
				}
			}
		}
		d.GlobalStores = append(d.GlobalStores, gs)
	}
	return d
}

// describeGroup describes the nodes of g in Kafka's order.
func (t *Topology) describeGroup(g *group) []NodeDescription {
	size := map[string]int{}
	var sizeOf func(name string) int
	sizeOf = func(name string) int {
		if s, ok := size[name]; ok {
			return s
		}
		s := 1
		for _, c := range t.nodes[name].children {
			s += sizeOf(c)
		}
		size[name] = s
		return s
	}
	order := func(a, b string) int {
		if c := cmp.Compare(sizeOf(b), sizeOf(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	}
	sorted := func(names []string) []string {
		out := slices.Clone(names)
		slices.SortFunc(out, order)
		return out
	}
	out := make([]NodeDescription, 0, len(g.nodes))
	for _, n := range g.nodes {
		nd := NodeDescription{Name: n.name, Predecessors: sorted(n.parents), Successors: sorted(n.children)}
		switch n.kind {
		case kindSource:
			nd.Type, nd.Topics = SourceNode, slices.Clone(n.topics)
		case kindProcessor:
			nd.Type, nd.Stores = ProcessorNode, slices.Sorted(slices.Values(n.stores))
		case kindSink:
			nd.Type, nd.Topic, nd.TopicExtractor = SinkNode, n.sinkTopic, n.sinkDynamic
		}
		out = append(out, nd)
	}
	slices.SortFunc(out, func(a, b NodeDescription) int { return order(a.Name, b.Name) })
	return out
}

// String returns the description in Kafka Streams' format:
//
//	Topologies:
//	   Sub-topology: 0
//	    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
//	      --> KSTREAM-MAPVALUES-0000000001
//	    ...
//
// Sub-topologies and global stores are listed by ID.
func (d *TopologyDescription) String() string {
	var b strings.Builder
	b.WriteString("Topologies:\n ")
	si, gi := 0, 0
	for si < len(d.Subtopologies) || gi < len(d.GlobalStores) {
		b.WriteString("  ")
		if gi >= len(d.GlobalStores) || (si < len(d.Subtopologies) && d.Subtopologies[si].ID < d.GlobalStores[gi].ID) {
			st := d.Subtopologies[si]
			fmt.Fprintf(&b, "Sub-topology: %d\n", st.ID)
			for _, n := range st.Nodes {
				b.WriteString("    " + n.String() + "\n")
			}
			b.WriteString("\n")
			si++
			continue
		}
		gs := d.GlobalStores[gi]
		fmt.Fprintf(&b, "Sub-topology: %d for global store (will not generate tasks)\n", gs.ID)
		b.WriteString("    " + gs.Source.String() + "\n")
		b.WriteString("    " + gs.Processor.String() + "\n")
		gi++
	}
	return b.String()
}

// String returns the node as Kafka Streams writes it.
func (n NodeDescription) String() string {
	switch n.Type {
	case SourceNode:
		return fmt.Sprintf("Source: %s (topics: [%s])\n      --> %s", n.Name, strings.Join(n.Topics, ", "), nodeNames(n.Successors))
	case ProcessorNode:
		return fmt.Sprintf("Processor: %s (stores: [%s])\n      --> %s\n      <-- %s", n.Name, strings.Join(n.Stores, ", "), nodeNames(n.Successors), nodeNames(n.Predecessors))
	default:
		if n.TopicExtractor {
			return fmt.Sprintf("Sink: %s (extractor class: TopicFunc)\n      <-- %s", n.Name, nodeNames(n.Predecessors))
		}
		return fmt.Sprintf("Sink: %s (topic: %s)\n      <-- %s", n.Name, n.Topic, nodeNames(n.Predecessors))
	}
}

func nodeNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Mermaid returns the topology as a Mermaid flowchart: a subgraph per sub-topology (and
// global store), topics as parallelograms, stores as cylinders.
func (d *TopologyDescription) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	ids := map[string]string{}
	var topics, stores []string
	id := func(prefix, name string, list *[]string) string {
		key := prefix + ":" + name
		if v, ok := ids[key]; ok {
			return v
		}
		*list = append(*list, name)
		v := fmt.Sprintf("%s%d", prefix, len(*list)-1)
		ids[key] = v
		return v
	}
	var nodes []string
	nodeID := func(name string) string { return id("n", name, &nodes) }
	var edges []string
	writeNodes := func(ns []NodeDescription) {
		for _, n := range ns {
			label := [...]string{"Source", "Processor", "Sink"}[n.Type] + ": " + n.Name
			fmt.Fprintf(&b, "        %s[\"%s\"]\n", nodeID(n.Name), mermaidEscape(label))
			for _, s := range n.Successors {
				edges = append(edges, fmt.Sprintf("    %s --> %s", nodeID(n.Name), nodeID(s)))
			}
			for _, topic := range n.Topics {
				edges = append(edges, fmt.Sprintf("    %s --> %s", id("t", topic, &topics), nodeID(n.Name)))
			}
			if n.Type == SinkNode && !n.TopicExtractor {
				edges = append(edges, fmt.Sprintf("    %s --> %s", nodeID(n.Name), id("t", n.Topic, &topics)))
			}
			for _, s := range n.Stores {
				edges = append(edges, fmt.Sprintf("    %s --- %s", nodeID(n.Name), id("s", s, &stores)))
			}
		}
	}
	si, gi := 0, 0
	for si < len(d.Subtopologies) || gi < len(d.GlobalStores) {
		if gi >= len(d.GlobalStores) || (si < len(d.Subtopologies) && d.Subtopologies[si].ID < d.GlobalStores[gi].ID) {
			st := d.Subtopologies[si]
			fmt.Fprintf(&b, "    subgraph sub%d [\"Sub-topology: %d\"]\n", st.ID, st.ID)
			writeNodes(st.Nodes)
			si++
		} else {
			gs := d.GlobalStores[gi]
			fmt.Fprintf(&b, "    subgraph sub%d [\"Sub-topology: %d for global store\"]\n", gs.ID, gs.ID)
			writeNodes([]NodeDescription{gs.Source, gs.Processor})
			gi++
		}
		b.WriteString("    end\n")
	}
	for i, topic := range topics {
		fmt.Fprintf(&b, "    t%d[/\"%s\"/]\n", i, mermaidEscape(topic))
	}
	for i, s := range stores {
		fmt.Fprintf(&b, "    s%d[(\"%s\")]\n", i, mermaidEscape(s))
	}
	for _, e := range edges {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// mermaidEscape makes s safe inside a quoted Mermaid label.
func mermaidEscape(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}
