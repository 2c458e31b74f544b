package main

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	eddyrt "github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// joinsOnBroker is the inner join of the driver row as an App: the same records,
// alternating between two co-partitioned topics of appPartitions partitions, 1 ms apart.
func joinsOnBroker(n int) onBrokerBench {
	const left, right = "join-left", "join-right"
	keys := driverKeyNames()
	epoch := onBrokerEpoch()
	return onBrokerBench{
		name:   "joins",
		inputs: []string{left, right},
		produce: func(ctx context.Context, addr string) error {
			return produceRecords(ctx, addr, n, false, func(i int) *kgo.Record {
				isLeft, k, ts := joinInput(keys, i)
				topic := right
				if isLeft {
					topic = left
				}
				return &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte("value"),
					Timestamp: epoch.Add(time.Duration(ts) * time.Millisecond)}
			})
		},
		stateful: func(out string) (*eddyrt.Topology, error) {
			b := dsl.NewBuilder()
			strs := dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
			b.Stream(left, strs).Join(b.Stream(right, strs), func(a, b string) string { return a + b },
				dsl.JoinWindowsOf(joinWindow), dsl.StreamJoined[string, string, string]{InMemory: true}).To(out)
			return b.Build()
		},
		// Every right record meets the one left record of its key 1 ms before it.
		want: int64(n / 2),
	}
}
