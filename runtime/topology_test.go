package runtime_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

func passThrough[K, V any]() func() runtime.Processor[K, V, K, V] {
	return runtime.ProcessorFunc[K, V, K, V](func(ctx runtime.ProcessorContext[K, V], r runtime.Record[K, V]) error {
		return ctx.Forward(r)
	}).Supplier()
}

func kvStore(name string) runtime.StoreBuilder {
	return runtime.KeyValueStoreBuilder(name, serde.String(), serde.Int64(), runtime.StoreOptions{})
}

func TestTopologyValidation(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, top *runtime.Topology) error
	}{
		{"duplicate node", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			return top.AddProcessor("src", passThrough[string, string](), "src")
		}},
		{"unknown parent", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			return top.AddProcessor("p", passThrough[string, string](), "nope")
		}},
		{"processor without parent", func(t *testing.T, top *runtime.Topology) error {
			return top.AddProcessor("p", passThrough[string, string]())
		}},
		{"parent forwards other types", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			return top.AddProcessor("p", passThrough[string, int64](), "src")
		}},
		{"sink as parent", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			must(t, top.AddSink("out", strSink("out"), "src"))
			return top.AddProcessor("p", passThrough[string, string](), "out")
		}},
		{"topic read twice", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("a", strSource("in")))
			return top.AddSource("b", strSource("x", "in"))
		}},
		{"topic pattern", func(t *testing.T, top *runtime.Topology) error {
			return top.AddSource("a", runtime.SourceConfig[string, string]{TopicPattern: "in.*", Keys: serde.String(), Values: serde.String()})
		}},
		{"source without serdes", func(t *testing.T, top *runtime.Topology) error {
			return top.AddSource("a", runtime.SourceConfig[string, string]{Topics: []string{"in"}})
		}},
		{"sink with topic and extractor", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			cfg := strSink("out")
			cfg.TopicFunc = func(runtime.Record[string, string]) string { return "x" }
			return top.AddSink("out", cfg, "src")
		}},
		{"store for unknown processor", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			return top.AddStateStore(kvStore("s"), "nope")
		}},
		{"store on a source", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			return top.AddStateStore(kvStore("s"), "src")
		}},
		{"store added twice", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			must(t, top.AddProcessor("p", passThrough[string, string](), "src"))
			must(t, top.AddStateStore(kvStore("s"), "p"))
			return top.AddStateStore(kvStore("s"), "p")
		}},
		{"connect unknown store", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			must(t, top.AddProcessor("p", passThrough[string, string](), "src"))
			return top.ConnectProcessorAndStateStores("p", "nope")
		}},
		{"store used by no processor", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddSource("src", strSource("in")))
			must(t, top.AddStateStore(kvStore("s")))
			return top.Validate()
		}},
		{"no source", func(t *testing.T, top *runtime.Topology) error { return top.Validate() }},
		{"repartition topic never read", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddRepartitionTopic("r", 0))
			must(t, top.AddSource("src", strSource("in")))
			must(t, top.AddSink("out", strSink(top.InternalTopic("r")), "src"))
			return top.Validate()
		}},
		{"repartition topic never written", func(t *testing.T, top *runtime.Topology) error {
			must(t, top.AddRepartitionTopic("r", 0))
			must(t, top.AddSource("src", strSource(top.InternalTopic("r"))))
			return top.Validate()
		}},
		{"logged global store", func(t *testing.T, top *runtime.Topology) error {
			b := runtime.KeyValueStoreBuilder("g", serde.String(), serde.String(), runtime.StoreOptions{Logging: true})
			return top.AddGlobalStore(b, "gs", strSource("g"), "gp", globalLoader("g"))
		}},
		{"connect a global store", func(t *testing.T, top *runtime.Topology) error {
			b := runtime.KeyValueStoreBuilder("g", serde.String(), serde.String(), runtime.StoreOptions{})
			must(t, top.AddGlobalStore(b, "gs", strSource("g"), "gp", globalLoader("g")))
			must(t, top.AddSource("src", strSource("in")))
			must(t, top.AddProcessor("p", passThrough[string, string](), "src"))
			return top.ConnectProcessorAndStateStores("p", "g")
		}},
		{"child of a global feed", func(t *testing.T, top *runtime.Topology) error {
			b := runtime.KeyValueStoreBuilder("g", serde.String(), serde.String(), runtime.StoreOptions{})
			must(t, top.AddGlobalStore(b, "gs", strSource("g"), "gp", globalLoader("g")))
			return top.AddProcessor("p", passThrough[string, string](), "gs")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build(t, runtime.NewTopology())
			if !errors.Is(err, runtime.ErrInvalidTopology) {
				t.Fatalf("got %v, want ErrInvalidTopology", err)
			}
		})
	}
}

// globalLoader puts every record of a global topic into store.
func globalLoader(store string) func() runtime.Processor[string, string, struct{}, struct{}] {
	return func() runtime.Processor[string, string, struct{}, struct{}] {
		return &loader{store: store}
	}
}

type loader struct {
	store string
	kv    interface{ Put(string, string) error }
}

func (l *loader) Init(ctx runtime.ProcessorContext[struct{}, struct{}]) error {
	s, err := ctx.Store(l.store)
	if err != nil {
		return err
	}
	l.kv = s.(interface{ Put(string, string) error })
	return nil
}

func (l *loader) Process(r runtime.Record[string, string]) error { return l.kv.Put(r.Key, r.Value) }
func (l *loader) Close() error                                   { return nil }

func TestSubtopologies(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, top *runtime.Topology)
		want  []runtime.Subtopology
	}{
		{
			name: "independent chains",
			build: func(t *testing.T, top *runtime.Topology) {
				must(t, top.AddSource("a", strSource("in-a")))
				must(t, top.AddSource("b", strSource("in-b")))
				must(t, top.AddSink("out-b", strSink("out-b"), "b"))
				must(t, top.AddSink("out-a", strSink("out-a"), "a"))
			},
			want: []runtime.Subtopology{
				{ID: 0, SourceTopics: []string{"in-a"}, SinkTopics: []string{"out-a"}},
				{ID: 1, SourceTopics: []string{"in-b"}, SinkTopics: []string{"out-b"}},
			},
		},
		{
			name: "a shared store joins chains",
			build: func(t *testing.T, top *runtime.Topology) {
				must(t, top.AddSource("a", strSource("in-a")))
				must(t, top.AddSource("b", strSource("in-b")))
				must(t, top.AddSource("c", strSource("in-c")))
				must(t, top.AddProcessor("pa", passThrough[string, string](), "a"))
				must(t, top.AddProcessor("pb", passThrough[string, string](), "b"))
				must(t, top.AddStateStore(runtime.KeyValueStoreBuilder("s", serde.String(), serde.Int64(), runtime.StoreOptions{Logging: true}), "pa", "pb"))
			},
			want: []runtime.Subtopology{
				{ID: 0, SourceTopics: []string{"in-a", "in-b"}, Stores: []string{"s"}, ChangelogTopics: []string{"app-s-changelog"}},
				{ID: 1, SourceTopics: []string{"in-c"}},
			},
		},
		{
			name: "a merge joins chains",
			build: func(t *testing.T, top *runtime.Topology) {
				must(t, top.AddSource("a", strSource("in-a")))
				must(t, top.AddSource("b", strSource("in-b")))
				must(t, top.AddSink("out", strSink("out"), "a", "b"))
			},
			want: []runtime.Subtopology{{ID: 0, SourceTopics: []string{"in-a", "in-b"}, SinkTopics: []string{"out"}}},
		},
		{
			name: "a repartition topic splits",
			build: func(t *testing.T, top *runtime.Topology) {
				must(t, top.AddRepartitionTopic("by-key", 4))
				must(t, top.AddSource("a", strSource("in")))
				must(t, top.AddSink("to-rep", strSink(top.InternalTopic("by-key")), "a"))
				must(t, top.AddSource("rep", strSource(top.InternalTopic("by-key"))))
				must(t, top.AddProcessor("agg", passThrough[string, string](), "rep"))
				must(t, top.AddStateStore(kvStore("agg-store"), "agg"))
			},
			want: []runtime.Subtopology{
				{ID: 0, SourceTopics: []string{"in"}, SinkTopics: []string{"app-by-key-repartition"}},
				{ID: 1, SourceTopics: []string{"app-by-key-repartition"}, RepartitionSources: []string{"app-by-key-repartition"}, Stores: []string{"agg-store"}},
			},
		},
		{
			name: "global stores take a number but no tasks",
			build: func(t *testing.T, top *runtime.Topology) {
				b := runtime.KeyValueStoreBuilder("g", serde.String(), serde.String(), runtime.StoreOptions{})
				must(t, top.AddGlobalStore(b, "gs", strSource("g"), "gp", globalLoader("g")))
				must(t, top.AddSource("a", strSource("in")))
			},
			want: []runtime.Subtopology{{ID: 1, SourceTopics: []string{"in"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := runtime.NewTopology()
			tt.build(t, top)
			got, err := top.Subtopologies("app")
			must(t, err)
			if !slices.EqualFunc(got, tt.want, equalSubtopology) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func equalSubtopology(a, b runtime.Subtopology) bool {
	return a.ID == b.ID && slices.Equal(a.SourceTopics, b.SourceTopics) && slices.Equal(a.SinkTopics, b.SinkTopics) &&
		slices.Equal(a.RepartitionSources, b.RepartitionSources) && slices.Equal(a.Stores, b.Stores) &&
		slices.Equal(a.ChangelogTopics, b.ChangelogTopics)
}

func TestRepartitionTopicsAndGlobalStores(t *testing.T) {
	top := runtime.NewTopology()
	must(t, top.AddRepartitionTopic("by-key", 0))
	must(t, top.AddSource("a", strSource("in")))
	must(t, top.AddSink("to-rep", strSink(top.InternalTopic("by-key")), "a"))
	must(t, top.AddSource("rep", strSource(top.InternalTopic("by-key"))))
	must(t, top.AddSink("out", strSink("out"), "rep"))
	b := runtime.KeyValueStoreBuilder("g", serde.String(), serde.String(), runtime.StoreOptions{})
	must(t, top.AddGlobalStore(b, "gs", strSource("countries"), "gp", globalLoader("g")))

	reps := top.RepartitionTopics("app")
	want := []runtime.RepartitionTopicInfo{{Topic: "app-by-key-repartition", Partitions: 0, WriterSubtopology: 0, ReaderSubtopology: 1}}
	if !slices.Equal(reps, want) {
		t.Errorf("RepartitionTopics = %+v, want %+v", reps, want)
	}
	subs, err := top.Subtopologies("app")
	must(t, err)
	if subs[0].OffsetResets["in"] != runtime.OffsetResetDefault || subs[1].OffsetResets["app-by-key-repartition"] != runtime.OffsetResetEarliest {
		t.Errorf("offset resets %v, %v", subs[0].OffsetResets, subs[1].OffsetResets)
	}
	gs := top.GlobalStores()
	if len(gs) != 1 || gs[0].Store != "g" || !slices.Equal(gs[0].SourceTopics, []string{"countries"}) || gs[0].Subtopology != 2 {
		t.Errorf("GlobalStores = %+v", gs)
	}
}
