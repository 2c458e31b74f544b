package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/state"
)

// BenchmarkAppRestore compares restoring one task's store from a changelog of 200,000
// records, into Badger and into the memory engine (which shows the runtime's own
// cost), with a plain franz-go read of the same partition, on the bundled broker.
// Run with -benchtime 1x: each iteration restores into a fresh engine.
func BenchmarkAppRestore(b *testing.B) {
	const records = 200_000
	ctx := context.Background()
	brk, err := broker.New(broker.Config{DataDir: b.TempDir(), Listen: "127.0.0.1:0", Fsync: "os"})
	if err != nil {
		b.Fatal(err)
	}
	if err := brk.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer brk.Close()
	base := []kgo.Opt{kgo.SeedBrokers(brk.Addr())}
	cl, err := kgo.NewClient(append(base, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tp := TopicPartition{Topic: "bench-counts-changelog", Partition: 0}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, tp.Topic); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < records; i += 10_000 {
		recs := make([]*kgo.Record, 0, 10_000)
		for j := range 10_000 {
			recs = append(recs, &kgo.Record{Topic: tp.Topic, Key: fmt.Appendf(nil, "key-%07d", (i+j)%50_000), Value: fmt.Appendf(nil, "%08d", i+j)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("franz-go", func(b *testing.B) {
		for range b.N {
			rd, err := kgo.NewClient(append(base, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {0: kgo.NewOffset().AtStart()}}))...)
			if err != nil {
				b.Fatal(err)
			}
			start, n := time.Now(), 0
			for n < records {
				n += rd.PollFetches(ctx).NumRecords()
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
			rd.Close()
		}
	})
	for _, engine := range []string{"badger", "memory"} {
		b.Run("restore-"+engine, func(b *testing.B) {
			r := &restorer{ctx: ctx, opts: base, adm: adm, log: slog.New(slog.DiscardHandler)}
			m := newAppMetrics("bench", nil).newTask("t", TaskID{})
			for range b.N {
				p := state.NewMemoryProvider()
				if engine == "badger" {
					if p, err = state.NewBadgerProvider(b.TempDir(), state.BadgerOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				e, err := p.Open("1_0", "counts")
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := benchRestore(r, tp, e, m); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(records/time.Since(start).Seconds(), "records/s")
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRestore restores one store the way a thread does.
func benchRestore(r *restorer, tp TopicPartition, e state.Engine, m *taskMetrics) error {
	return r.restoreTask([]restoreTarget{{store: "counts", changelog: tp, engine: e, persistent: true}}, m)
}
