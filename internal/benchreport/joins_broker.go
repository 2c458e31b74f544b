package main

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	eddyrt "github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// joinBrokerGrace is the on-broker join windows' grace. A task processes whichever
// input it has fetched, so one side can run its stream time ahead of the other by up to
// a few buffers; with no grace, as in the driver row, the other side's records would be
// dropped as late (5% of them with a MaxTaskIdle of 1s). The grace covers the whole
// input's timestamps, so none is.
const joinBrokerGrace = 5 * time.Minute

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
				dsl.JoinWindowsOf(joinWindow).Grace(joinBrokerGrace), dsl.StreamJoined[string, string, string]{InMemory: true}).To(out)
			return b.Build()
		},
		// Every right record meets the one left record of its key 1 ms before it.
		want: int64(n / 2),
	}
}
