package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumeN reads topic from the start until n records arrived or ctx ends.
func consumeN(t *testing.T, b *Broker, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts = append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, b, opts...)
	ctx := testCtx(t, 20*time.Second)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeEveryCodec(t *testing.T) {
	b := startBroker(t, Config{})
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	const perPartition, partitions = 200, 4
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "codec-" + c.name
			createTopic(t, b, topic, partitions, nil)
			prod := newClient(t, b, kgo.ProducerBatchCompression(c.codec), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			ctx := testCtx(t, 20*time.Second)
			var recs []*kgo.Record
			for p := range int32(partitions) {
				for i := range perPartition {
					recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(strconv.Itoa(i)),
						Value: fmt.Appendf(nil, "value %d of partition %d, padded to compress well %0100d", i, p, 0)})
				}
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			got := consumeN(t, b, topic, len(recs))
			if len(got) != len(recs) {
				t.Fatalf("consumed %d records, want %d", len(got), len(recs))
			}
			next := map[int32]int64{}
			for _, r := range got {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				want := fmt.Sprintf("value %d of partition %d, padded to compress well %0100d", r.Offset, r.Partition, 0)
				if string(r.Value) != want || string(r.Key) != strconv.FormatInt(r.Offset, 10) {
					t.Fatalf("partition %d offset %d: key %q value %q", r.Partition, r.Offset, r.Key, r.Value)
				}
			}
			for p := range int32(partitions) {
				if next[p] != perPartition {
					t.Fatalf("partition %d: %d records, want %d", p, next[p], perPartition)
				}
			}
			if c.name != "none" {
				assertStoredCompressed(t, b, topic)
			}
		})
	}
}

// assertStoredCompressed fetches partition 0 raw and checks the first batch's attributes
// carry a compression codec, so batches were stored as the producer compressed them.
func assertStoredCompressed(t *testing.T, b *Broker, topic string) {
	t.Helper()
	cl := newClient(t, b)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	data := resp.Topics[0].Partitions[0].RecordBatches
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(data); err != nil {
		t.Fatalf("decode batch: %v", err)
	}
	if batch.Attributes&0x7 == 0 {
		t.Fatalf("stored batch is not compressed: attributes %#x", batch.Attributes)
	}
}

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "poll", 2, nil)
	cons := newClient(t, b, kgo.ConsumeTopics("poll"), kgo.FetchMaxWait(10*time.Second))
	ctx := testCtx(t, 15*time.Second)

	got := make(chan time.Time, 1)
	go func() {
		for {
			fs := cons.PollFetches(ctx)
			if len(fs.Records()) > 0 || ctx.Err() != nil {
				got <- time.Now()
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // the consumer is parked in a fetch now
	sent := time.Now()
	prod := newClient(t, b)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "poll", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	arrived := <-got
	if ctx.Err() != nil {
		t.Fatal("record never arrived")
	}
	if d := arrived.Sub(sent); d > 3*time.Second {
		t.Fatalf("record arrived %v after produce; the fetch waited out MaxWait instead of waking", d)
	}
}

func TestFetchRespectsMaxWaitWhenIdle(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "idle", 1, nil)
	cl := newClient(t, b)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 300
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "idle"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle fetch answered after %v, want about 300ms", d)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
		t.Fatalf("idle fetch: error %d, %d bytes, hw %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

func TestFetchErrors(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "fe", 1, nil)
	prod := newClient(t, b)
	ctx := testCtx(t, 10*time.Second)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "fe", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cases := []struct {
		name      string
		topic     string
		partition int32
		offset    int64
		want      error
	}{
		{"unknown topic", "nope", 0, 0, kerr.UnknownTopicOrPartition},
		{"unknown partition", "fe", 5, 0, kerr.UnknownTopicOrPartition},
		{"offset past end", "fe", 0, 7, kerr.OffsetOutOfRange},
		{"negative offset", "fe", 0, -3, kerr.OffsetOutOfRange},
		{"at end", "fe", 0, 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := kmsg.NewPtrFetchRequest()
			req.Version = 11
			req.MaxBytes = 1 << 20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = c.topic
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = c.partition
			rp.FetchOffset = c.offset
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, prod)
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
			if !errors.Is(got, c.want) && got != c.want {
				t.Fatalf("error %v, want %v", got, c.want)
			}
		})
	}
}

func TestFetchSizeLimits(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "big", 1, nil)
	prod := newClient(t, b, kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	ctx := testCtx(t, 10*time.Second)
	value := make([]byte, 64<<10)
	rand.Read(value) // incompressible, so each batch is as large as its value
	for range 4 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "big", Value: value}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	fetch := func(partMax, max int32) []byte {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.MaxBytes = max
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "big"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = partMax
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, prod)
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		return resp.Topics[0].Partitions[0].RecordBatches
	}
	countBatches := func(data []byte) int {
		n := 0
		for len(data) > 0 {
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(data); err != nil {
				t.Fatalf("decode: %v", err)
			}
			data = data[12+int(rb.Length):]
			n++
		}
		return n
	}
	if n := countBatches(fetch(1<<20, 1<<20)); n != 4 {
		t.Fatalf("large limits: %d batches, want 4", n)
	}
	if n := countBatches(fetch(1<<20, 150<<10)); n != 2 {
		t.Fatalf("150 KiB response limit: %d batches, want 2", n)
	}
	// A limit smaller than one batch still returns that batch (KIP-74).
	if n := countBatches(fetch(1024, 1024)); n != 1 {
		t.Fatalf("1 KiB limit: %d batches, want 1", n)
	}
}

func TestListOffsets(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "lo", 1, nil)
	prod := newClient(t, b, kgo.ProducerLinger(0))
	ctx := testCtx(t, 10*time.Second)
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 10 {
		r := &kgo.Record{Topic: "lo", Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	adm := kadm.NewClient(prod)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 {
		t.Fatalf("start offset %d, want 0", o.Offset)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 10 {
		t.Fatalf("end offset %d, want 10", o.Offset)
	}
	cases := []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Hour), 0},
		{base, 0},
		{base.Add(3500 * time.Millisecond), 4},
		{base.Add(9 * time.Second), 9},
		{base.Add(time.Hour), -1},
	}
	for _, c := range cases {
		res, err := adm.ListOffsetsAfterMilli(ctx, c.at.UnixMilli(), "lo")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := res.Lookup("lo", 0)
		want := c.want
		if want == -1 {
			want = 10 // kadm reports the end offset when no record is that late
		}
		if o.Offset != want {
			t.Fatalf("offset after %v: %d, want %d", c.at.Sub(base), o.Offset, want)
		}
	}
}

func TestProduceErrors(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "small", 1, map[string]*string{"max.message.bytes": ptr("1000")})
	cl := newClient(t, b, kgo.MaxBufferedRecords(1), kgo.RecordRetries(0), kgo.UnknownTopicRetries(0))
	ctx := testCtx(t, 10*time.Second)
	big := make([]byte, 5000)
	rand.Read(big)
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("oversized record: %v, want MESSAGE_TOO_LARGE", err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "missing", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	// Raw produce straight to the handler (kgo would overwrite acks): bad acks and a
	// corrupt batch.
	send := func(acks int16, records []byte) int16 {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = acks
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "small"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rep, err := handleProduce(ctx, b, &request{key: req.Key(), version: req.Version, kreq: req})
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		if rep.wait != nil {
			rep.wait(ctx)
		}
		return rep.resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := send(2, nil); code != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: error %d, want INVALID_REQUIRED_ACKS", code)
	}
	if code := send(-1, []byte("definitely not a record batch, but long enough to parse a header from it")); code != kerr.CorruptMessage.Code {
		t.Fatalf("garbage batch: error %d, want CORRUPT_MESSAGE", code)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("enabled=%v", enabled), func(t *testing.T) {
			b := startBroker(t, Config{AutoCreateTopics: enabled, DefaultPartitions: 3})
			cl := newClient(t, b, kgo.AllowAutoTopicCreation(), kgo.UnknownTopicRetries(0))
			ctx := testCtx(t, 10*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr()
			if enabled != (err == nil) {
				t.Fatalf("produce to a new topic with auto-create %v: %v", enabled, err)
			}
			md, err := kadm.NewClient(cl).Metadata(ctx, "auto")
			if err != nil {
				t.Fatal(err)
			}
			d := md.Topics["auto"]
			if enabled && len(d.Partitions) != 3 {
				t.Fatalf("auto-created topic has %d partitions, want 3", len(d.Partitions))
			}
			if !enabled && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
				t.Fatalf("topic without auto-create: %v", d.Err)
			}
		})
	}
}

func TestIdempotentProducerConcurrent(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "idem", 8, nil)
	cl := newClient(t, b) // franz-go producers are idempotent by default
	ctx := testCtx(t, 20*time.Second)
	const n = 5000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: "idem", Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = cmp(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	got := consumeN(t, b, "idem", n)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[string(r.Value)] {
			t.Fatalf("value %s stored twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct values, want %d", len(seen), n)
	}
}

// cmp keeps the first non-nil error.
func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
