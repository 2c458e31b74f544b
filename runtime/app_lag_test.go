package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// A transaction marker ends an input partition's log, and a transaction still open on
// it holds its last stable offset below its high watermark: neither is a record the
// task has yet to fetch, so a task whose other input gets a record processes it at
// once instead of waiting DefaultLagIdle for the partition to catch up.
func TestAppDoesNotWaitForTransactionMarkers(t *testing.T) {
	for name, g := range map[string]runtime.ProcessingGuarantee{"at-least-once": runtime.AtLeastOnce, "exactly-once": runtime.ExactlyOnce} {
		t.Run(name, func(t *testing.T) {
			onBrokers(t, func(t *testing.T, addr string) {
				for _, topic := range []string{"a", "b", "out"} {
					createTopic(t, addr, topic, 1)
				}
				txns := transactionalClient(t, addr, "lag-writer")
				produceInTxn(t, txns, true, &kgo.Record{Topic: "b", Value: []byte("b0")})

				b := dsl.NewBuilder()
				strs := dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
				b.Stream("a", strs).Merge(b.Stream("b", strs)).To("out")
				top, err := b.Build()
				if err != nil {
					t.Fatal(err)
				}
				cfg := appConfig(t, addr, "lag", t.TempDir())
				cfg.ProcessingGuarantee = g
				startApp(t, top, cfg)
				out := outputReader(t, addr, "out")
				waitValue(t, out, "b0")

				if g == runtime.ExactlyOnce {
					// Left open: the app reads b read_committed, up to b0's marker.
					produceInTxn(t, txns, false, &kgo.Record{Topic: "b", Value: []byte("b1")})
				}
				start := time.Now()
				produce(t, addr, "a", "a0")
				waitValue(t, out, "a0")
				if took := time.Since(start); took >= runtime.DefaultLagIdle/2 {
					t.Errorf("a0 took %v to come through: the task waited for b", took)
				}
			})
		})
	}
}

// transactionalClient is a producer with transactional ID id.
func transactionalClient(t *testing.T, addr, id string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceInTxn writes recs in a transaction of cl, committed if commit is set and
// left open otherwise.
func produceInTxn(t *testing.T, cl *kgo.Client, commit bool, recs ...*kgo.Record) {
	t.Helper()
	ctx := testCtx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// outputReader reads topic read_committed from the start.
func outputReader(t *testing.T, addr, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// waitValue polls cl until a record with value comes.
func waitValue(t *testing.T, cl *kgo.Client, value string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record %q: %v", value, context.Cause(ctx))
		}
		for _, r := range fetches.Records() {
			if string(r.Value) == value {
				return
			}
		}
	}
}
