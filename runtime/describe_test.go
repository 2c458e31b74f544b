package runtime_test

import (
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// describedTopology has two sub-topologies joined by a repartition topic and a global
// store.
func describedTopology(t *testing.T) *runtime.Topology {
	top := runtime.NewTopology()
	must(t, top.AddRepartitionTopic("by-word", 0))
	must(t, top.AddSource("src", strSource("input")))
	must(t, top.AddProcessor("upper", passThrough[string, string](), "src"))
	must(t, top.AddProcessor("count", passThrough[string, string](), "upper"))
	must(t, top.AddStateStore(kvStore("counts"), "count"))
	must(t, top.AddSink("to-rep", strSink(top.InternalTopic("by-word")), "count"))
	must(t, top.AddSink("out", strSink("output"), "upper"))
	must(t, top.AddSource("rep-src", strSource(top.InternalTopic("by-word"))))
	must(t, top.AddSink("final", strSink("final"), "rep-src"))
	g := runtime.KeyValueStoreBuilder("countries", serde.String(), serde.String(), runtime.StoreOptions{})
	must(t, top.AddGlobalStore(g, "countries-src", strSource("countries"), "countries-proc", globalLoader("countries")))
	return top
}

// The golden text keeps Kafka's quirk: the first sub-topology is indented by three
// spaces and the others by two.
func TestDescribeText(t *testing.T) {
	const want = `Topologies:
   Sub-topology: 0
    Source: src (topics: [input])
      --> upper
    Processor: upper (stores: [])
      --> count, out
      <-- src
    Processor: count (stores: [counts])
      --> to-rep
      <-- upper
    Sink: out (topic: output)
      <-- upper
    Sink: to-rep (topic: by-word-repartition)
      <-- count

  Sub-topology: 1
    Source: rep-src (topics: [by-word-repartition])
      --> final
    Sink: final (topic: final)
      <-- rep-src

  Sub-topology: 2 for global store (will not generate tasks)
    Source: countries-src (topics: [countries])
      --> countries-proc
    Processor: countries-proc (stores: [countries])
      --> none
      <-- countries-src
`
	if got := describedTopology(t).Describe().String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescribeMermaid(t *testing.T) {
	const want = `flowchart TD
    subgraph sub0 ["Sub-topology: 0"]
        n0["Source: src"]
        n1["Processor: upper"]
        n2["Processor: count"]
        n3["Sink: out"]
        n4["Sink: to-rep"]
    end
    subgraph sub1 ["Sub-topology: 1"]
        n5["Source: rep-src"]
        n6["Sink: final"]
    end
    subgraph sub2 ["Sub-topology: 2 for global store"]
        n7["Source: countries-src"]
        n8["Processor: countries-proc"]
    end
    t0[/"input"/]
    t1[/"output"/]
    t2[/"by-word-repartition"/]
    t3[/"final"/]
    t4[/"countries"/]
    s0[("counts")]
    s1[("countries")]
    n0 --> n1
    t0 --> n0
    n1 --> n2
    n1 --> n3
    n2 --> n4
    n2 --- s0
    n3 --> t1
    n4 --> t2
    n5 --> n6
    t2 --> n5
    n6 --> t3
    n7 --> n8
    t4 --> n7
    n8 --- s1
`
	if got := describedTopology(t).Describe().Mermaid(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
