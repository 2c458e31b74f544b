package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
)

// TestSettleCommit: the EndTxn that settleCommit sends commits a transaction the
// client left open, as franz-go's EndTransaction sometimes does, and is answered with
// success for a transaction already committed. Both brokers.
func TestSettleCommit(t *testing.T) {
	brokers := map[string]func(t *testing.T) string{
		"bundled": func(t *testing.T) string {
			b, err := broker.New(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b.Addr()
		},
		"kfake": func(t *testing.T) string {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "settle"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return c.ListenAddrs()[0]
		},
	}
	for name, start := range brokers {
		t.Run(name, func(t *testing.T) {
			addr := start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("settle-1"), kgo.DefaultProduceTopic("settle"), kgo.AllowAutoTopicCreation())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			if name == "bundled" {
				if _, err := adm.CreateTopic(ctx, 1, 1, nil, "settle"); err != nil {
					t.Fatal(err)
				}
			}
			x := &txn{cl: cl, id: "settle-1"}
			state := func() string {
				d, err := adm.DescribeTransactions(ctx, "settle-1")
				if err != nil {
					t.Fatal(err)
				}
				return d["settle-1"].State
			}

			// Left open, as when the client skips EndTxn: settleCommit commits it.
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if s := state(); s != "Ongoing" {
				t.Fatalf("before settling: %s", s)
			}
			if err := x.settleCommit(ctx); err != nil {
				t.Fatalf("settle an open transaction: %v", err)
			}
			// kfake forgets a finished transaction's state; Kafka and ours keep CompleteCommit.
			if s := state(); s != "CompleteCommit" && (name != "kfake" || s != "Empty") {
				t.Fatalf("after settling: %s, want it committed", s)
			}
			// Already committed: a no-op.
			if err := x.settleCommit(ctx); err != nil {
				t.Fatalf("settle a committed transaction: %v", err)
			}
		})
	}
}
