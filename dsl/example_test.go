package dsl_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// The classic word count: split lines into words, group by word (which repartitions,
// since the key changes) and count. The counts table's updates are written to a topic.
func Example_wordCount() {
	b := dsl.NewBuilder()
	b.Stream("lines", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		FlatMapValues(func(line string) []string { return strings.Fields(strings.ToLower(line)) }).
		GroupBy(func(_, word string) string { return word }).
		Count(dsl.Materialized[string, int64]{Name: "word-counts"}).
		ToStream().
		To("word-counts")
	top, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}

	d, err := testdriver.New(top, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	lines, _ := d.CreateInputTopic("lines", serde.String(), serde.String())
	counts, _ := d.CreateOutputTopic("word-counts", serde.String(), serde.Nullable(serde.Int64()))
	_ = lines.PipeInput("1", "the quick fox")
	_ = lines.PipeInput("2", "The lazy dog")
	_ = lines.PipeInput("3", "the end")
	for !counts.IsEmpty() {
		kv, _ := counts.ReadKeyValue()
		fmt.Println(kv.Key, *kv.Value)
	}
	// Output:
	// the 1
	// quick 1
	// fox 1
	// the 2
	// lazy 1
	// dog 1
	// the 3
	// end 1
}

// A table aggregation with a subtractor: users move between regions, and the count and
// the member list of each region follow, because every update of the users table
// reaches the aggregation as "remove the old row from its region, add the new one".
func Example_tableAggregation() {
	b := dsl.NewBuilder()
	users := b.Table("user-regions", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()})
	byRegion := users.GroupBy(func(user, region string) (string, string) { return region, user })
	byRegion.Aggregate(
		func() string { return "" },
		func(_, user, members string) string { return strings.TrimPrefix(members+","+user, ",") },
		func(_, user, members string) string {
			var keep []string
			for _, m := range strings.Split(members, ",") {
				if m != user {
					keep = append(keep, m)
				}
			}
			return strings.Join(keep, ",")
		},
		dsl.Materialized[string, string]{Name: "region-members", Values: serde.String()},
	).ToStream().To("region-members")
	top, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}

	d, err := testdriver.New(top, testdriver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	in, _ := d.CreateInputTopic("user-regions", serde.String(), serde.Nullable(serde.String()))
	out, _ := d.CreateOutputTopic("region-members", serde.String(), serde.Nullable(serde.String()))
	region := func(r string) *string { return &r }
	_ = in.PipeInput("ann", region("eu"))
	_ = in.PipeInput("bob", region("eu"))
	_ = in.PipeInput("ann", region("us")) // ann moves: eu loses her, us gains her
	_ = in.PipeInput("bob", nil)          // bob is deleted: eu loses him
	for !out.IsEmpty() {
		kv, _ := out.ReadKeyValue()
		fmt.Printf("%s: [%s]\n", kv.Key, *kv.Value)
	}
	// Output:
	// eu: [ann]
	// eu: [ann,bob]
	// eu: [bob]
	// us: [ann]
	// eu: []
}

// Build compiles the operators into a runtime topology; Describe shows the generated
// names: processors numbered as in Kafka Streams, and the store and repartition topic
// numbered per kind.
func ExampleBuilder_Build() {
	b := dsl.NewBuilder()
	b.Stream("words", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		Filter(func(_, w string) bool { return w != "" }).
		SelectKey(func(_, w string) string { return w }).
		GroupByKey().
		Count().
		ToStream().
		To("counts")
	top, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(top.Describe())
	// Output:
	// Topologies:
	//    Sub-topology: 0
	//     Source: KSTREAM-SOURCE-0000000000 (topics: [words])
	//       --> KSTREAM-FILTER-0000000001
	//     Processor: KSTREAM-FILTER-0000000001 (stores: [])
	//       --> KSTREAM-KEY-SELECT-0000000002
	//       <-- KSTREAM-SOURCE-0000000000
	//     Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
	//       --> KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition-sink
	//       <-- KSTREAM-FILTER-0000000001
	//     Sink: KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition-sink (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition)
	//       <-- KSTREAM-KEY-SELECT-0000000002
	//
	//   Sub-topology: 1
	//     Source: KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition-source (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition])
	//       --> KSTREAM-AGGREGATE-0000000003
	//     Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000000])
	//       --> KTABLE-TOSTREAM-0000000004
	//       <-- KSTREAM-AGGREGATE-STATE-STORE-0000000000-repartition-source
	//     Processor: KTABLE-TOSTREAM-0000000004 (stores: [])
	//       --> KSTREAM-SINK-0000000005
	//       <-- KSTREAM-AGGREGATE-0000000003
	//     Sink: KSTREAM-SINK-0000000005 (topic: counts)
	//       <-- KTABLE-TOSTREAM-0000000004
}
