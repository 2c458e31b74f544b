package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// interruption is when a transactional producer is interrupted, as Ctrl-C interrupts
// `eddy produce --transactional-id`.
type interruption int

const (
	afterAck    interruption = iota // its records are acknowledged
	inFlight                        // right after producing: records buffered or in flight
	randomDelay                     // 0-2ms after producing
	duringEnd                       // its EndTxn abort's context ends 0-2ms in
	abandoned                       // it goes away without ending: the next producer fences it
)

func (i interruption) String() string {
	return [...]string{"afterAck", "inFlight", "randomDelay", "duringEnd", "abandoned"}[i]
}

// TestTxnStressInterruptedTransaction replays what `eddy produce --transactional-id`
// runs do to one partition: a transaction commits a, b and c, the next one with the same
// transactional ID writes doomed records and is interrupted at a random moment (and
// aborted by its EndTxn, or by the fencing InitProducerID of the next producer), and a
// third commits d. Every round, read_committed must return exactly a, b, c and d, with
// at most the doomed transaction named aborted, starting at its first record, and
// nothing left open holding back the last stable offset.
func TestTxnStressInterruptedTransaction(t *testing.T) {
	const rounds = 15
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, fsync := range []string{"os", "always"} {
		t.Run(fsync, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			b := startBroker(t, Config{Fsync: fsync})
			ctx := testCtx(t, 30*time.Second)
			cl := newClient(t, b)
			adm := kadm.NewClient(cl)
			topics := make([]string, rounds)
			for i := range rounds {
				topics[i] = fmt.Sprintf("txn-%d", i)
				if _, err := adm.CreateTopic(ctx, 1, 1, nil, topics[i]); err != nil {
					t.Fatalf("create topic: %v", err)
				}
			}
			for i, topic := range topics {
				how := interruption(i % 5)
				id := "loader-" + topic
				committedTxn(t, ctx, b, adm, id, topic, "a", "b", "c")
				interruptedTxn(t, ctx, b, rng, how, id, topic)
				committedTxn(t, ctx, b, adm, id, topic, "d")
				checkCommitted(t, ctx, cl, topic, how)
			}
			if t.Failed() {
				return
			}
			// And a consumer, which fetches as it likes, sees the same.
			cons := newClient(t, b, kgo.ConsumeTopics(topics...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := map[string][]string{}
			for n := 0; n < 4*rounds; {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("read_committed consumer got %d of %d records: %v", n, 4*rounds, got)
				}
				fs.EachRecord(func(r *kgo.Record) {
					got[r.Topic] = append(got[r.Topic], string(r.Value))
					n++
				})
			}
			for _, topic := range topics {
				if want := []string{"a", "b", "c", "d"}; !slices.Equal(got[topic], want) {
					t.Errorf("%s: read_committed consumer got %q, want %q", topic, got[topic], want)
				}
			}
		})
	}
}

// committedTxn commits values in one transaction of a new producer with transactional
// ID id, as one `eddy produce` run does.
func committedTxn(t *testing.T, ctx context.Context, b *Broker, adm *kadm.Client, id, topic string, values ...string) {
	t.Helper()
	cl := txnClient(t, b, id)
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, v := range values {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", v, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	settleCommit(t, ctx, cl, adm, id)
}

// settleCommit works around a franz-go (v1.22.3) race: when a transaction's first records
// go to a topic the client has not loaded yet, the metadata update that partitions them
// publishes the topic's partitions only after the records may be produced and
// acknowledged, so an EndTransaction right after Flush can find no partition in the
// transaction and return nil without sending EndTxn. The transaction is then still
// Ongoing here, and this sends the EndTxn the client should have.
func settleCommit(t *testing.T, ctx context.Context, cl *kgo.Client, adm *kadm.Client, id string) {
	t.Helper()
	ds, err := adm.DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatalf("describe transaction %s: %v", id, err)
	}
	if st := ds[id].State; st != "Ongoing" {
		if st != "CompleteCommit" {
			t.Fatalf("transaction %s is %s after its commit", id, st)
		}
		return
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatalf("producer id: %v", err)
	}
	t.Logf("franz-go skipped the EndTxn of %s (producer %d epoch %d); sending it", id, pid, epoch)
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, true
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && resp.ErrorCode != 0 {
		err = fmt.Errorf("error code %d", resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("EndTxn commit of %s: %v", id, err)
	}
}

// interruptedTxn writes doomed records in a transaction of a new producer with ID id and
// interrupts it as how says. Like `eddy produce`, it then aborts what is buffered and
// the transaction with a context the interruption did not end. Failures to abort are
// fine: the next producer's InitProducerID fences and aborts what is left.
func interruptedTxn(t *testing.T, ctx context.Context, b *Broker, rng *rand.Rand, how interruption, id, topic string) {
	t.Helper()
	cl := txnClient(t, b, id)
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	pctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	var promised sync.WaitGroup
	for _, v := range []string{"doomed-1", "doomed-2"} {
		promised.Add(1)
		cl.Produce(pctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(*kgo.Record, error) { promised.Done() })
	}
	jitter := time.Duration(rng.IntN(2000)) * time.Microsecond
	endCtx := ctx
	switch how {
	case afterAck, duringEnd:
		promised.Wait()
	case randomDelay, abandoned:
		time.Sleep(jitter)
	}
	interrupt()
	if how == abandoned {
		return
	}
	if how == duringEnd {
		var cancel context.CancelFunc
		endCtx, cancel = context.WithCancel(ctx)
		defer cancel()
		time.AfterFunc(jitter, cancel)
	}
	if err := cl.AbortBufferedRecords(endCtx); err == nil {
		_ = cl.EndTransaction(endCtx, kgo.TryAbort)
	}
	cl.Close()
	promised.Wait()
}

// checkCommitted checks topic's partition 0 after a round: read_committed fetches up to
// the high watermark (no transaction left open), names at most the doomed transaction
// aborted, from its first record, and franz-go's read_committed processing of that
// answer yields a, b, c and d.
func checkCommitted(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, how interruption) {
	t.Helper()
	all := rawFetch(t, ctx, cl, topic, 0, 0, 0, 0)
	offsets := map[string]int64{}
	for _, r := range processFetch(all, kgo.ReadUncommitted()) {
		offsets[string(r.Value)] = r.Offset
	}
	committed := rawFetch(t, ctx, cl, topic, 0, 0, 1, 0)
	if committed.LastStableOffset != committed.HighWatermark {
		t.Errorf("%s (%s): last stable offset %d below high watermark %d: a transaction was left open",
			topic, how, committed.LastStableOffset, committed.HighWatermark)
	}
	doomed, anyDoomed := offsets["doomed-1"]
	if d2, ok := offsets["doomed-2"]; ok && (!anyDoomed || d2 < doomed) {
		doomed, anyDoomed = d2, true
	}
	aborted := committed.AbortedTransactions
	switch {
	case len(aborted) > 1:
		t.Errorf("%s (%s): aborted transactions %+v, want at most the doomed one", topic, how, aborted)
	case len(aborted) == 1 && (!anyDoomed || aborted[0].FirstOffset != doomed):
		t.Errorf("%s (%s): aborted transaction from offset %d, doomed records at %v", topic, how, aborted[0].FirstOffset, offsets)
	case len(aborted) == 0 && anyDoomed:
		t.Errorf("%s (%s): no aborted transaction, doomed records at %v", topic, how, offsets)
	}
	var got []string
	for _, r := range processFetch(committed, kgo.ReadCommitted()) {
		got = append(got, string(r.Value))
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("%s (%s): read_committed records %q, want %q (log %v, aborted %+v)", topic, how, got, want, offsets, aborted)
	}
}

// processFetch runs franz-go's consumer-side processing of a fetch answer from offset 0.
func processFetch(sp *kmsg.FetchResponseTopicPartition, iso kgo.IsolationLevel) []*kgo.Record {
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{IsolationLevel: iso, Partition: sp.Partition},
		sp, kgo.DefaultDecompressor(), nil)
	return fp.Records
}
