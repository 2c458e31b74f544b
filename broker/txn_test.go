package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker/internal/txn"
)

// txnClient returns a transactional producer for b that writes each record to the
// partition it names. The caller closes it.
func txnClient(t testing.TB, b *Broker, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(b.Addr()),
		kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	return cl
}

// txnRecords returns one record per value, spread over parts partitions in turn.
func txnRecords(topic string, parts int32, ts time.Time, values ...string) []*kgo.Record {
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % parts, Value: []byte(v), Timestamp: ts}
	}
	return rs
}

// seq returns prefix0 ... prefix(n-1).
func seq(prefix string, n int) []string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = prefix + strconv.Itoa(i)
	}
	return vs
}

// runTxn produces rs in one transaction and ends it with end.
func runTxn(t testing.TB, ctx context.Context, cl *kgo.Client, end kgo.TransactionEndTry, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce in transaction: %v", err)
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		t.Fatalf("end transaction (commit %v): %v", end, err)
	}
}

var sentinelSeq atomic.Int64

// writeSentinels appends one plain record to every partition of topic and returns its
// value. A reader that has read it in every partition has read everything before it,
// and under read_committed it is only readable once every transaction before it ended.
func writeSentinels(t testing.TB, b *Broker, topic string, parts int32) string {
	t.Helper()
	v := fmt.Sprintf("sentinel-%d", sentinelSeq.Add(1))
	cl := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for p := range parts {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
	}
	if err := cl.ProduceSync(testCtx(t, 10*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce sentinels: %v", err)
	}
	return v
}

// consume reads every partition of topic from the start, read_committed or not, for at
// most d or until it has read sentinel in every partition (complete). It returns the
// values before the sentinels, sorted, leaving out every sentinel.
func consume(t testing.TB, b *Broker, topic string, parts int32, committed bool, sentinel string, d time.Duration) (vals []string, complete bool) {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := range parts {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := map[int32]bool{}
	for len(done) < int(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("consume %s-%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			switch {
			case v == sentinel:
				done[r.Partition] = true
			case strings.HasPrefix(v, "sentinel-") || done[r.Partition]:
			default:
				vals = append(vals, v)
			}
		})
	}
	slices.Sort(vals)
	return vals, len(done) == int(parts)
}

// sorted returns the concatenation of vss, sorted.
func sorted(vss ...[]string) []string {
	all := slices.Concat(vss...)
	slices.Sort(all)
	return all
}

// listOffset asks ListOffsets for one partition's offset at ts under isolation level iso.
func listOffset(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, p int32, ts int64, iso int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = iso
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = p, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	sp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
		t.Fatalf("list offsets %s-%d at %d (isolation %d): %v", topic, p, ts, iso, err)
	}
	return sp.Offset
}

// TestTxnReadCommitted checks what each isolation level sees of a committed, an aborted
// and an open transaction, and where ListOffsets puts the end under each.
func TestTxnReadCommitted(t *testing.T) {
	b := startBroker(t, Config{})
	const topic = "txn-isolation"
	createTopic(t, b, topic, 2, nil)
	ctx := testCtx(t, 20*time.Second)
	cl := txnClient(t, b, "isolation")
	defer cl.Close()

	// Timestamps ahead of the clock keep the lookups by time clear of the markers,
	// which the broker stamps with the time it writes them.
	now := time.Now().Truncate(time.Millisecond)
	early, late := now.Add(20*time.Minute), now.Add(40*time.Minute)
	committed, aborted, open := seq("c", 4), seq("a", 4), seq("o", 4)
	runTxn(t, ctx, cl, kgo.TryCommit, txnRecords(topic, 2, early, committed...)...)
	abortedRecs := txnRecords(topic, 2, early, aborted...)
	runTxn(t, ctx, cl, kgo.TryAbort, abortedRecs...)

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	openRecs := txnRecords(topic, 2, late, open...)
	if err := cl.ProduceSync(ctx, openRecs...).FirstErr(); err != nil {
		t.Fatalf("produce open transaction: %v", err)
	}
	firstOpen := map[int32]int64{0: openRecs[0].Offset, 1: openRecs[1].Offset}

	adm := adminClient(t, b)
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, first := range firstOpen {
		if got, _ := lso.Lookup(topic, p); got.Offset != first {
			t.Errorf("partition %d: read_committed latest offset %d, want the open transaction's first offset %d", p, got.Offset, first)
		}
		if got, _ := hw.Lookup(topic, p); got.Offset != first+2 {
			t.Errorf("partition %d: read_uncommitted latest offset %d, want %d", p, got.Offset, first+2)
		}
	}
	raw := newClient(t, b)
	for _, tc := range []struct {
		name string
		ts   int64
		iso  int8
		want int64
	}{
		{"uncommitted by time", late.UnixMilli(), 0, firstOpen[1]},
		{"committed by time past the stable offset", late.UnixMilli(), 1, -1},
		{"committed by time before it", early.UnixMilli(), 1, 0},
		{"committed latest", listLatest, 1, firstOpen[1]},
		{"uncommitted latest", listLatest, 0, firstOpen[1] + 2},
	} {
		if got := listOffset(t, ctx, raw, topic, 1, tc.ts, tc.iso); got != tc.want {
			t.Errorf("%s: offset %d, want %d", tc.name, got, tc.want)
		}
	}

	pid, _, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sp := rawFetch(t, ctx, raw, topic, 0, 0, 1, 0)
	wantAborted := []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: pid, FirstOffset: abortedRecs[0].Offset}}
	if sp.LastStableOffset != firstOpen[0] || sp.HighWatermark != firstOpen[0]+2 ||
		!slices.EqualFunc(sp.AbortedTransactions, wantAborted, func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) bool {
			return a.ProducerID == b.ProducerID && a.FirstOffset == b.FirstOffset
		}) {
		t.Errorf("read_committed fetch: stable offset %d, high watermark %d, aborted %+v; want %d, %d, %+v",
			sp.LastStableOffset, sp.HighWatermark, sp.AbortedTransactions, firstOpen[0], firstOpen[0]+2, wantAborted)
	}
	if sp := rawFetch(t, ctx, raw, topic, 0, 0, 0, 0); sp.LastStableOffset != firstOpen[0] || len(sp.AbortedTransactions) != 0 {
		t.Errorf("read_uncommitted fetch: stable offset %d, aborted %+v; want %d and none", sp.LastStableOffset, sp.AbortedTransactions, firstOpen[0])
	}

	sentinel := writeSentinels(t, b, topic, 2)
	vals, complete := consume(t, b, topic, 2, false, sentinel, 10*time.Second)
	if want := sorted(committed, aborted, open); !complete || !slices.Equal(vals, want) {
		t.Fatalf("read_uncommitted while open: %v (complete %v), want %v", vals, complete, want)
	}
	// The open transaction holds read_committed readers back, sentinel included.
	vals, complete = consume(t, b, topic, 2, true, sentinel, 700*time.Millisecond)
	if complete || !slices.Equal(vals, sorted(committed)) {
		t.Fatalf("read_committed while open: %v (complete %v), want %v and no further", vals, complete, committed)
	}

	// A read_committed long poll at the stable offset wakes when the commit moves it.
	polled := make(chan *kmsg.FetchResponseTopicPartition, 1)
	start := time.Now()
	go func() { polled <- rawFetch(t, ctx, raw, topic, 0, firstOpen[0], 1, 5*time.Second) }()
	time.Sleep(100 * time.Millisecond)
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if sp := <-polled; len(sp.RecordBatches) == 0 || time.Since(start) > 4*time.Second {
		t.Errorf("read_committed long poll answered after %v with %d bytes, want the committed batch at once",
			time.Since(start), len(sp.RecordBatches))
	}
	vals, complete = consume(t, b, topic, 2, true, sentinel, 10*time.Second)
	if want := sorted(committed, open); !complete || !slices.Equal(vals, want) {
		t.Fatalf("read_committed after commit: %v (complete %v), want %v", vals, complete, want)
	}
	if got := listOffset(t, ctx, raw, topic, 1, listLatest, 1); got != listOffset(t, ctx, raw, topic, 1, listLatest, 0) {
		t.Errorf("read_committed latest %d differs from the high watermark with no transaction open", got)
	}
}

// TestTxnProduceChecks checks that produce refuses transactional batches that no
// transaction covers.
func TestTxnProduceChecks(t *testing.T) {
	b := startBroker(t, Config{})
	const topic = "txn-checks"
	createTopic(t, b, topic, 2, nil)
	ctx := testCtx(t, 10*time.Second)

	// A partition not added to the transaction: franz-go adds every partition it
	// produces to, so the request is made by hand from a real transaction's batch.
	cl := txnClient(t, b, "checks")
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, txnRecords(topic, 1, time.Now(), "x")...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	batch := fetchBatch(t, ctx, b, topic, 0)
	raw := newClient(t, b)
	for _, tc := range []struct {
		name    string
		txnID   *string
		part    int32
		records []byte
		want    error
	}{
		{"partition outside the transaction", ptr("checks"), 1, batch, kerr.InvalidTxnState},
		{"no transactional id", nil, 0, batch, kerr.TransactionalIDAuthorizationFailed},
		{"unknown transactional id", ptr("nobody"), 0, batch, nil}, // any refusal will do
		{"plain batch with a transactional id", ptr("checks"), 0, encodeTestBatch(0, "plain"), kerr.InvalidRecord},
		{"control batch in a transaction", ptr("checks"), 0, asControlBatch(batch), kerr.InvalidRecord},
		{"control batch outside a transaction", nil, 0, asControlBatch(batch), kerr.InvalidRecord},
	} {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		req.TransactionID = tc.txnID
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = tc.part
		rp.Records = tc.records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
		if got == nil || tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("%s: produce answered %v, want %v", tc.name, got, tc.want)
		}
	}
	ends, err := adminClient(t, b).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 1, 1: 0} {
		if got, _ := ends.Lookup(topic, p); got.Offset != want {
			t.Errorf("partition %d ends at %d after the refused produces, want %d", p, got.Offset, want)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// asControlBatch returns a copy of batch marked as a control batch, with its CRC-32C
// recomputed so that only the marking can get it refused.
func asControlBatch(batch []byte) []byte {
	c := append([]byte(nil), batch...)
	binary.BigEndian.PutUint16(c[21:], binary.BigEndian.Uint16(c[21:])|0x20)
	binary.BigEndian.PutUint32(c[17:], crc32.Checksum(c[21:], crc32.MakeTable(crc32.Castagnoli)))
	return c
}

// rawFetch fetches one partition from offset under isolation level iso, waiting up to
// maxWait for a first byte, and returns the partition's answer.
func rawFetch(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, p int32, offset int64, iso int8, maxWait time.Duration) *kmsg.FetchResponseTopicPartition {
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	req.MinBytes = 1
	req.MaxWaitMillis = int32(maxWait.Milliseconds())
	req.IsolationLevel = iso
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Errorf("fetch: %v", err)
		return &kmsg.FetchResponseTopicPartition{}
	}
	sp := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
		t.Errorf("fetch %s-%d at %d: %v", topic, p, offset, err)
	}
	return sp
}

// fetchBatch returns the first record batch of a partition, read uncommitted.
func fetchBatch(t testing.TB, ctx context.Context, b *Broker, topic string, p int32) []byte {
	t.Helper()
	data := rawFetch(t, ctx, newClient(t, b), topic, p, 0, 0, 0).RecordBatches
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(data); err != nil {
		t.Fatalf("decode batch: %v", err)
	}
	return data[:12+int(rb.Length)]
}

// transactSession runs a franz-go GroupTransactSession that copies in to out until stop
// closes or the session fails, aborting every abortEvery-th transaction of all sessions.
type transactSession struct {
	commits atomic.Int64
	err     error
	done    chan struct{}
}

func startTransactSession(t *testing.T, b *Broker, txnID, group, in, out string, stop <-chan struct{}, txns *atomic.Int64, abortEvery int64, fenceFirst bool) *transactSession {
	t.Helper()
	s, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.Addr()),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(10*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.DefaultProduceTopic(out),
	)
	if err != nil {
		t.Fatalf("kgo.NewGroupTransactSession: %v", err)
	}
	ts := &transactSession{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
		case <-ts.done:
		}
		cancel()
	}()
	go func() {
		defer close(ts.done)
		defer s.Close()
		if fenceFirst {
			// Initialising the producer ID now fences the older producer at once,
			// instead of at this session's first produce.
			if _, _, err := s.Client().ProducerID(ctx); err != nil {
				ts.err = fmt.Errorf("init producer id: %w", err)
				return
			}
		}
		ts.err = ts.run(ctx, s, txns, abortEvery)
	}()
	return ts
}

func (ts *transactSession) run(ctx context.Context, s *kgo.GroupTransactSession, txns *atomic.Int64, abortEvery int64) error {
	for ctx.Err() == nil {
		fs := s.PollRecords(ctx, 250)
		if ctx.Err() != nil {
			return nil
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if fs.Empty() {
			continue
		}
		if err := s.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		var mu sync.Mutex
		var produceErr error
		fs.EachRecord(func(r *kgo.Record) {
			s.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
				mu.Lock()
				produceErr = cmpOr(produceErr, err)
				mu.Unlock()
			})
		})
		commit := txns.Add(1)%abortEvery != 0
		committed, err := s.End(ctx, kgo.TransactionEndTry(commit))
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("end (produce error %v): %w", produceErr, err)
		}
		if committed {
			ts.commits.Add(1)
		}
	}
	return nil
}

// cmpOr returns the first non-nil error.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestTxnGroupTransactSession runs franz-go's consume-transform-produce with aborted
// transactions and a second producer of the same transactional ID that fences the first
// mid-run: read_committed, the output holds every input exactly once.
func TestTxnGroupTransactSession(t *testing.T) {
	b := startBroker(t, Config{})
	const in, out, group, txnID = "eos-in", "eos-out", "eos", "eos-txn"
	const n, parts = 6000, 3
	createTopic(t, b, in, parts, nil)
	createTopic(t, b, out, parts, nil)
	ctx := testCtx(t, 30*time.Second)

	prod := newClient(t, b, kgo.DefaultProduceTopic(in))
	var rs []*kgo.Record
	for i := range n {
		v := []byte(strconv.Itoa(i))
		rs = append(rs, &kgo.Record{Key: v, Value: v})
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce input: %v", err)
	}

	adm := adminClient(t, b)
	progress := func() int64 {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return 0
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At > 0 {
				sum += o.At
			}
		})
		return sum
	}

	var txns atomic.Int64
	stop := make(chan struct{})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	first := startTransactSession(t, b, txnID, group, in, out, stop, &txns, 4, false)
	for progress() < n/6 {
		select {
		case <-first.done:
			t.Fatalf("first session ended early: %v", first.err)
		case <-ctx.Done():
			t.Fatalf("first session made no progress: %d committed", progress())
		case <-time.After(20 * time.Millisecond):
		}
	}
	second := startTransactSession(t, b, txnID, group, in, out, stop, &txns, 4, true)
	select {
	case <-first.done:
	case <-ctx.Done():
		t.Fatal("the fenced session never failed")
	}
	if !errors.Is(first.err, kerr.ProducerFenced) && !errors.Is(first.err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced session ended with %v, want a fencing error", first.err)
	}
	for progress() < n {
		select {
		case <-second.done:
			t.Fatalf("second session ended early: %v", second.err)
		case <-ctx.Done():
			t.Fatalf("stuck at %d of %d input records committed", progress(), n)
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(stop)
	<-second.done
	if second.err != nil {
		t.Fatalf("second session: %v", second.err)
	}
	t.Logf("%d transactions, %d committed by the fenced session, %d by the second", txns.Load(), first.commits.Load(), second.commits.Load())
	if first.commits.Load() == 0 || second.commits.Load() == 0 || txns.Load() < 8 {
		t.Fatalf("want commits from both sessions and aborts among the transactions")
	}

	sentinel := writeSentinels(t, b, out, parts)
	vals, complete := consume(t, b, out, parts, true, sentinel, 15*time.Second)
	if !complete {
		t.Fatalf("read_committed output did not reach the sentinels (%d values read)", len(vals))
	}
	count := map[string]int{}
	for _, v := range vals {
		count[v]++
	}
	for i := range n {
		if c := count[strconv.Itoa(i)]; c != 1 {
			t.Errorf("input %d is in the committed output %d times", i, c)
		}
	}
	if len(vals) != n {
		t.Errorf("committed output has %d records, want %d", len(vals), n)
	}
}

// TestTxnTimeoutAborts checks that a transaction its producer never ends is aborted at
// its timeout, which lets read_committed readers past it and fences the producer.
func TestTxnTimeoutAborts(t *testing.T) {
	b := startBroker(t, Config{TransactionAbortInterval: 50 * time.Millisecond})
	const topic = "txn-timeout"
	createTopic(t, b, topic, 1, nil)
	ctx := testCtx(t, 15*time.Second)

	cl := txnClient(t, b, "stuck", kgo.TransactionTimeout(300*time.Millisecond))
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, txnRecords(topic, 1, time.Now(), "stuck")...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sentinel := writeSentinels(t, b, topic, 1)
	if vals, complete := consume(t, b, topic, 1, true, sentinel, 10*time.Second); !complete || len(vals) != 0 {
		t.Fatalf("read_committed: %v (complete %v), want nothing before the sentinel", vals, complete)
	}
	// The markers are written before the coordinator logs the abort complete.
	got := waitTxnState(t, ctx, adminClient(t, b), "stuck", "CompleteAbort")
	if got.ProducerEpoch <= epoch {
		t.Errorf("timed-out transaction described as %+v, want an epoch above %d", got, epoch)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Errorf("committing a timed-out transaction succeeded")
	}
	if vals, _ := consume(t, b, topic, 1, true, sentinel, 5*time.Second); len(vals) != 0 {
		t.Errorf("read_committed after the commit attempt: %v", vals)
	}
}

// waitTxnState describes txnID until it is in state, and returns that description.
func waitTxnState(t testing.TB, ctx context.Context, adm *kadm.Client, txnID, state string) kadm.DescribedTransaction {
	t.Helper()
	for {
		d, err := adm.DescribeTransactions(ctx, txnID)
		if err != nil {
			t.Fatalf("describe %s: %v", txnID, err)
		}
		got := d[txnID]
		if got.State == state {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s described as %+v, want %s", txnID, got, state)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTxnRequireStable checks OffsetFetch's RequireStable (v7 and v8 forms) against a
// transaction with pending offsets, before and after its commit.
func TestTxnRequireStable(t *testing.T) {
	b := startBroker(t, Config{})
	const topic = "txn-stable"
	createTopic(t, b, topic, 1, nil)
	for _, v := range []int16{7, 8} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			ctx := testCtx(t, 10*time.Second)
			cl := versionClient(t, b, kmsg.OffsetFetch, v)
			txnID, group := fmt.Sprintf("stable-%d", v), fmt.Sprintf("stable-group-%d", v)

			init := kmsg.NewPtrInitProducerIDRequest()
			init.TransactionalID = &txnID
			init.TransactionTimeoutMillis = 60000
			ir, err := init.RequestWith(ctx, cl)
			if err != nil || ir.ErrorCode != 0 {
				t.Fatalf("init producer id: %v, code %d", err, ir.ErrorCode)
			}
			add := kmsg.NewPtrAddOffsetsToTxnRequest()
			add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, ir.ProducerID, ir.ProducerEpoch, group
			if ar, err := add.RequestWith(ctx, cl); err != nil || ar.ErrorCode != 0 {
				t.Fatalf("add offsets: %v, %+v", err, ar)
			}
			commit := kmsg.NewPtrTxnOffsetCommitRequest()
			commit.TransactionalID, commit.Group = txnID, group
			commit.ProducerID, commit.ProducerEpoch = ir.ProducerID, ir.ProducerEpoch
			commit.Generation = -1
			ct := kmsg.NewTxnOffsetCommitRequestTopic()
			ct.Topic = topic
			cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			cp.Partition, cp.Offset = 0, 5
			ct.Partitions = append(ct.Partitions, cp)
			commit.Topics = append(commit.Topics, ct)
			cr, err := commit.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if code := cr.Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("txn offset commit: %v", kerr.ErrorForCode(code))
			}

			for _, tc := range []struct {
				stable bool
				code   int16
				offset int64
			}{
				{true, kerr.UnstableOffsetCommit.Code, -1},
				{false, 0, -1},
			} {
				code, off := offsetFetch(t, ctx, cl, v, group, topic, tc.stable)
				if code != tc.code || code == 0 && off != tc.offset {
					t.Errorf("open transaction, require stable %v: %v offset %d, want %v offset %d",
						tc.stable, kerr.ErrorForCode(code), off, kerr.ErrorForCode(tc.code), tc.offset)
				}
			}

			end := kmsg.NewPtrEndTxnRequest()
			end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, ir.ProducerID, ir.ProducerEpoch, true
			if er, err := end.RequestWith(ctx, cl); err != nil || er.ErrorCode != 0 {
				t.Fatalf("end txn: %v, %+v", err, er)
			}
			if code, off := offsetFetch(t, ctx, cl, v, group, topic, true); code != 0 || off != 5 {
				t.Errorf("after commit: %v offset %d, want offset 5", kerr.ErrorForCode(code), off)
			}
		})
	}
}

// offsetFetch fetches group's offset of topic partition 0 with OffsetFetch version v,
// returning the partition's error code and offset.
func offsetFetch(t *testing.T, ctx context.Context, cl *kgo.Client, v int16, group, topic string, stable bool) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.RequireStable = stable
	if v >= 8 {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = topic, []int32{0}
		g.Topics = append(g.Topics, gt)
		req.Groups = append(req.Groups, g)
	} else {
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("offset fetch v%d: %v", v, err)
	}
	if v >= 8 {
		if len(resp.Groups) != 1 || len(resp.Groups[0].Topics) != 1 {
			t.Fatalf("offset fetch v%d: %+v", v, resp)
		}
		p := resp.Groups[0].Topics[0].Partitions[0]
		return p.ErrorCode, p.Offset
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("offset fetch v%d: %+v", v, resp)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.Offset
}

// TestTxnDescribe checks kadm's DescribeTransactions, ListTransactions and
// DescribeProducers against an open and then a committed transaction.
func TestTxnDescribe(t *testing.T) {
	b := startBroker(t, Config{})
	const topic = "txn-describe"
	createTopic(t, b, topic, 2, nil)
	ctx := testCtx(t, 15*time.Second)
	adm := adminClient(t, b)
	produceValues(t, b, topic, "plain") // an idempotent producer with no transaction

	cl := txnClient(t, b, "describe", kgo.TransactionTimeout(20*time.Second))
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	rs := txnRecords(topic, 2, time.Now(), "x", "y", "z")
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	d, err := adm.DescribeTransactions(ctx, "describe")
	if err != nil {
		t.Fatal(err)
	}
	dt := d["describe"]
	if dt.Err != nil || dt.State != "Ongoing" || dt.ProducerID != pid || dt.ProducerEpoch != epoch || dt.TimeoutMillis != 20000 ||
		!dt.Topics.Lookup(topic, 0) || !dt.Topics.Lookup(topic, 1) || dt.StartTimestamp <= 0 {
		t.Errorf("open transaction described as %+v, want Ongoing, producer %d/%d, 20s, both partitions", dt, pid, epoch)
	}
	if len(d) != 1 {
		t.Errorf("described %d transactional ids, want 1", len(d))
	}

	for _, tc := range []struct {
		name   string
		pids   []int64
		states []string
		want   bool
	}{
		{"all", nil, nil, true},
		{"by producer", []int64{pid}, nil, true},
		{"other producer", []int64{pid + 1000}, nil, false},
		{"by state", nil, []string{"Ongoing"}, true},
		{"other state", nil, []string{"CompleteCommit"}, false},
	} {
		l, err := adm.ListTransactions(ctx, tc.pids, tc.states)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, ok := l["describe"]
		if ok != tc.want || ok && (got.ProducerID != pid || got.State != "Ongoing") {
			t.Errorf("list transactions %s: %+v (listed %v), want listed %v", tc.name, got, ok, tc.want)
		}
	}

	for pattern, want := range map[string]bool{"^desc": true, "^other": false} {
		l, err := adm.ListTransactionsByTxPattern(ctx, nil, nil, pattern)
		if err != nil {
			t.Fatalf("list transactions matching %s: %v", pattern, err)
		}
		if _, ok := l["describe"]; ok != want {
			t.Errorf("list transactions matching %s: listed %v, want %v", pattern, ok, want)
		}
	}

	checkProducers := func(when string, open map[int32]int64) {
		t.Helper()
		ps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
		if err != nil {
			t.Fatal(err)
		}
		for p, start := range open {
			dp := ps[topic].Partitions[p]
			if dp.Err != nil {
				t.Fatalf("%s: describe producers %s-%d: %v", when, topic, p, dp.Err)
			}
			got, ok := dp.ActiveProducers[pid]
			if !ok || got.ProducerEpoch != epoch || got.CurrentTxnStartOffset != start || got.LastTimestamp <= 0 {
				t.Errorf("%s: producer of %s-%d described as %+v (found %v), want epoch %d, transaction from %d",
					when, topic, p, got, ok, epoch, start)
			}
			for id, other := range dp.ActiveProducers {
				if id != pid && other.CurrentTxnStartOffset != -1 {
					t.Errorf("%s: idempotent producer %d has a transaction from %d", when, id, other.CurrentTxnStartOffset)
				}
			}
		}
	}
	checkProducers("open", map[int32]int64{0: rs[0].Offset, 1: rs[1].Offset})

	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	d, err = adm.DescribeTransactions(ctx, "describe")
	if err != nil {
		t.Fatal(err)
	}
	if dt := d["describe"]; dt.State != "CompleteCommit" || len(dt.Topics) != 0 {
		t.Errorf("committed transaction described as %+v, want CompleteCommit with no partitions", dt)
	}
	checkProducers("committed", map[int32]int64{0: -1, 1: -1})
}

// halfMarkers writes a failing commit's markers to its first partition only and then
// fails, leaving the transaction as a crash in the middle of EndTxn would.
type halfMarkers struct {
	txnMarkers
	fail atomic.Bool
}

func (h *halfMarkers) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, parts []txn.TopicPartition) error {
	if !h.fail.Load() || !commit || len(parts) < 2 {
		return h.txnMarkers.WriteMarkers(ctx, pid, epoch, commit, parts)
	}
	if err := h.txnMarkers.WriteMarkers(ctx, pid, epoch, commit, parts[:1]); err != nil {
		return err
	}
	return errors.New("test: stopped after the first marker")
}

// TestTxnRestart closes and reopens a broker over the same data with a committed, an
// open, a just-committed and a half-committed transaction: read_committed then sees
// exactly what was committed, the half-committed one whole, and the open transaction
// aborts at its timeout.
func TestTxnRestart(t *testing.T) {
	cfg := Config{
		DataDir:                  t.TempDir(),
		Listen:                   "127.0.0.1:0",
		Logger:                   slog.New(slog.DiscardHandler),
		TransactionAbortInterval: 50 * time.Millisecond,
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// Swapped before Start, while no handler can use the coordinator.
	half := &halfMarkers{txnMarkers: txnMarkers{b: b}}
	if err := b.txns.Close(); err != nil {
		t.Fatal(err)
	}
	if b.txns, err = txn.New(context.Background(), b.txnOptions(half)); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const topic = "txn-restart"
	const parts = 2
	createTopic(t, b, topic, parts, nil)
	ctx := testCtx(t, 25*time.Second)
	now := time.Now()
	committed, open, landed, cut := seq("c", 6), seq("o", 6), seq("l", 6), seq("h", 6)

	done := txnClient(t, b, "restart-committed")
	runTxn(t, ctx, done, kgo.TryCommit, txnRecords(topic, parts, now, committed...)...)
	done.Close()

	// Left open: after the restart only its timeout ends it.
	opened := txnClient(t, b, "restart-open", kgo.TransactionTimeout(time.Second))
	if err := opened.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := opened.ProduceSync(ctx, txnRecords(topic, parts, now, open...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	opened.Close()

	// Committed by EndTxn, with its producer still connected when the broker stops.
	last := txnClient(t, b, "restart-landed")
	defer last.Close()
	runTxn(t, ctx, last, kgo.TryCommit, txnRecords(topic, parts, now, landed...)...)

	// The commit is decided but its markers stop after the first partition.
	halfway := txnClient(t, b, "restart-half")
	defer halfway.Close()
	if err := halfway.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := halfway.ProduceSync(ctx, txnRecords(topic, parts, now, cut...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := halfway.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	half.fail.Store(true)
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "restart-half", pid, epoch, true
	if resp, err := end.RequestWith(ctx, newClient(t, b)); err != nil || resp.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("EndTxn with failing markers: %v, %+v; want CONCURRENT_TRANSACTIONS", err, resp)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	b = startBroker(t, cfg)
	sentinel := writeSentinels(t, b, topic, parts)
	vals, complete := consume(t, b, topic, parts, true, sentinel, 15*time.Second)
	if want := sorted(committed, landed, cut); !complete || !slices.Equal(vals, want) {
		t.Fatalf("read_committed after restart: %v (complete %v), want %v", vals, complete, want)
	}
	all, complete := consume(t, b, topic, parts, false, sentinel, 10*time.Second)
	if want := sorted(committed, open, landed, cut); !complete || !slices.Equal(all, want) {
		t.Fatalf("read_uncommitted after restart: %v (complete %v), want %v", all, complete, want)
	}
	adm := adminClient(t, b)
	for id, want := range map[string]string{
		"restart-open":   "CompleteAbort",
		"restart-landed": "CompleteCommit",
		"restart-half":   "CompleteCommit",
	} {
		waitTxnState(t, ctx, adm, id, want)
	}
}
