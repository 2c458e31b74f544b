package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokerWorkload is a fixed amount of records of one value size, spread evenly over the
// topic's partitions.
type brokerWorkload struct {
	valueSize  int
	records    int
	partitions int32
}

func (w brokerWorkload) bytes() int { return w.valueSize * w.records }

// createBenchTopic creates topic with w's partition count, replication factor 1.
func createBenchTopic(ctx context.Context, addr, topic string, w brokerWorkload) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, w.partitions, 1, nil, topic)
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	if resp.Err != nil {
		return fmt.Errorf("create topic: %w", resp.Err)
	}
	return nil
}

// produceAll writes w's records to topic with acks=all and returns how long it took from
// the first Produce call until the last record was acknowledged. Compression is off so
// that both brokers store and serve exactly the value bytes the table counts; record i
// goes to partition i mod partitions so every broker sees the same batches.
func produceAll(ctx context.Context, addr, topic string, w brokerWorkload) (time.Duration, error) {
	cl, value, err := benchProducer(ctx, addr, w, kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var (
		wg    sync.WaitGroup
		first firstError
	)
	done := func(r *kgo.Record, err error) {
		first.record(r, err)
		wg.Done()
	}
	start := time.Now()
	for i := range w.records {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i) % w.partitions, Value: value}, done)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := first.get(); err != nil {
		return 0, fmt.Errorf("produce: %w", err)
	}
	return elapsed, nil
}

// benchProducer connects a client that writes uncompressed records to the partition the
// record names, with opts added, and returns it with w's value bytes. Connecting is not
// part of any figure, so it is done here.
func benchProducer(ctx context.Context, addr string, w brokerWorkload, opts ...kgo.Opt) (*kgo.Client, []byte, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("produce: %w", err)
	}
	value := make([]byte, w.valueSize)
	rand.NewChaCha8([32]byte{}).Read(value)
	return cl, value, nil
}

// firstError keeps the first error of any produce callback.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) record(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// errShortRead reports a consume that ended with a partition holding other than what
// was produced to it.
var errShortRead = errors.New("consumed records do not match produced records")

// consumeAll reads topic from the start with a fresh client until all of w's records are
// seen, and returns how long that took from subscribing to the last record. It checks
// every value's size and, if exact, every partition's record count.
func consumeAll(ctx context.Context, addr, topic string, w brokerWorkload, exact bool) (time.Duration, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return 0, fmt.Errorf("consume: %w", err)
	}

	perPartition := make([]int, w.partitions)
	seen := 0
	var bad error
	start := time.Now()
	cl.AddConsumeTopics(topic)
	for seen < w.records && bad == nil {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("consume: %d of %d records: %w", seen, w.records, err)
		}
		fs.EachError(func(t string, p int32, err error) {
			bad = errors.Join(bad, fmt.Errorf("fetch %s/%d: %w", t, p, err))
		})
		fs.EachRecord(func(r *kgo.Record) {
			if seen == w.records {
				return // a canned log is endless
			}
			seen++
			if r.Partition < 0 || r.Partition >= w.partitions || len(r.Value) != w.valueSize {
				bad = fmt.Errorf("%w: record at %d/%d has %d value bytes", errShortRead, r.Partition, r.Offset, len(r.Value))
				return
			}
			perPartition[r.Partition]++
		})
	}
	elapsed := time.Since(start)
	if bad != nil {
		return 0, fmt.Errorf("consume: %w", bad)
	}
	if exact {
		for p, n := range perPartition {
			want := w.records / int(w.partitions)
			if p < w.records%int(w.partitions) {
				want++
			}
			if n != want {
				return 0, fmt.Errorf("consume: %w: partition %d has %d records, want %d", errShortRead, p, n, want)
			}
		}
	}
	return elapsed, nil
}
