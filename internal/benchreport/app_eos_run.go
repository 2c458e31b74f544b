package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// eosRunTimeout bounds one run of either phase.
const eosRunTimeout = time.Minute

// eosWarmKeys are the accounts of the latency phase's warm-up records, one record
// each: enough keys to reach every partition.
const eosWarmKeys = 64

// eosWarmRecord is warm-up record i: amount 1 for an account of its own.
func eosWarmRecord(i int) (key, value []byte) {
	return fmt.Appendf(nil, "warm-%02d", i), binary.BigEndian.AppendUint64(nil, 1)
}

func isWarmKey(k []byte) bool { return bytes.HasPrefix(k, []byte("warm-")) }

// eosThroughputRun runs the job under g over the pre-produced input and returns the
// times until its first and its last output record.
func eosThroughputRun(ctx context.Context, env appEnv, g eosGuarantee, run int) (outputTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, eosRunTimeout)
	defer cancel()
	name := eosRunName("throughput", g, run)
	out := name + "-out"
	if err := createAppTopics(ctx, env.addr, out); err != nil {
		return outputTimes{}, err
	}
	r, err := newSumReader(ctx, env.addr, out, eosSums(eosRecords), int64(eosRecords))
	if err != nil {
		return outputTimes{}, err
	}
	defer r.close()
	if err := runEOSJob(ctx, env, g, "throughput", run, eosInput, out, r, nil); err != nil {
		return outputTimes{}, err
	}
	return outputTimes{first: r.first, all: r.all}, nil
}

// eosLatency is what one latency run measured.
type eosLatency struct {
	rate          float64 // input records per second achieved
	p50, p99, max time.Duration
}

// eosLatencyRun starts the job under g on an empty input, warms it up, then produces
// at eosRate for eosDuration and returns the end-to-end latencies the reader saw.
func eosLatencyRun(ctx context.Context, env appEnv, g eosGuarantee, run int) (eosLatency, error) {
	ctx, cancel := context.WithTimeout(ctx, eosRunTimeout)
	defer cancel()
	name := eosRunName("latency", g, run)
	in, out := name+"-in", name+"-out"
	if err := createAppTopics(ctx, env.addr, in, out); err != nil {
		return eosLatency{}, err
	}
	n := int(float64(eosRate) * eosDuration.Seconds())
	want := eosSums(n)
	for i := range eosWarmKeys {
		k, _ := eosWarmRecord(i)
		want[string(k)] = 1
	}
	r, err := newSumReader(ctx, env.addr, out, want, int64(n+eosWarmKeys))
	if err != nil {
		return eosLatency{}, err
	}
	defer r.close()
	r.latencies = make([]time.Duration, 0, n)
	var took time.Duration
	err = runEOSJob(ctx, env, g, "latency", run, in, out, r, func(failed <-chan error) (err error) {
		took, err = eosProduceLoad(ctx, env.addr, in, n, r, failed)
		return err
	})
	if err != nil {
		return eosLatency{}, err
	}
	lat := r.latencies
	if len(lat) != n {
		return eosLatency{}, fmt.Errorf("%d latencies for %d records", len(lat), n)
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	return eosLatency{rate: float64(n) / took.Seconds(), p50: pct(0.50), p99: pct(0.99), max: lat[len(lat)-1]}, nil
}

// eosRunName names the application, and prefixes the topics, of one run.
func eosRunName(phase string, g eosGuarantee, run int) string {
	return fmt.Sprintf("eos-%s-%s-%d", phase, g.id, run)
}

// runEOSJob launches the job under g reading in and writing out, r reading its output,
// runs feed (if not nil) beside it, and returns once r has seen the whole output and
// the application has stopped.
func runEOSJob(ctx context.Context, env appEnv, g eosGuarantee, phase string, run int, in, out string, r *sumReader, feed func(failed <-chan error) error) error {
	launch, err := eosLaunch(env, g, eosRunName(phase, g, run), in, out)
	if err != nil {
		return err
	}
	stopProfile, err := startAppProfile("eos "+phase, g.id, run)
	if err != nil {
		return err
	}
	defer stopProfile()
	r.start(ctx)
	stop, failed, err := launch(ctx)
	if err != nil {
		return err
	}
	if feed != nil {
		err = feed(failed)
	}
	if err == nil {
		err = r.wait(ctx, failed)
	}
	return errors.Join(err, stop())
}

// eosProduceLoad writes the warm-up records to topic, waits until r has seen their
// output, then writes input records 0 to n-1 at eosRate, each stamped with the time it
// is produced, and returns how long the paced part took.
func eosProduceLoad(ctx context.Context, addr, topic string, n int, r *sumReader, failed <-chan error) (time.Duration, error) {
	if err := produceInput(ctx, addr, topic, eosWarmKeys, eosWarmRecord); err != nil {
		return 0, err
	}
	for r.seen.Load() < eosWarmKeys {
		select {
		case err := <-failed:
			return 0, fmt.Errorf("%w during warm-up: %w", errAppEnded, err)
		case <-r.done:
			return 0, r.err
		case <-ctx.Done():
			return 0, fmt.Errorf("warm-up: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// Records are stamped when handed over: a linger would count as latency.
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var (
		mu       sync.Mutex
		firstErr error
	)
	onAck := func(_ *kgo.Record, err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	start := time.Now()
	for i := 0; i < n; {
		due := min(n, int(time.Since(start).Seconds()*float64(eosRate)))
		for ; i < due; i++ {
			k, v := eosRecord(i)
			cl.Produce(ctx, &kgo.Record{Key: k, Value: v, Timestamp: time.Now()}, onAck)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return 0, fmt.Errorf("produce %s: %w", topic, firstErr)
	}
	return took, nil
}

// sumReader reads the job's output with read_committed and checks it: one record per
// input record, and each account's last sum as expected.
type sumReader struct {
	cl      *kgo.Client
	want    map[string]int64
	records int64

	seen   atomic.Int64  // output records read so far
	done   chan struct{} // closed when run returns
	cancel context.CancelFunc
	// Set by run, read after done is closed.
	err         error
	first, all  time.Duration // since start, to the first and the last output record
	latencies   []time.Duration
	sums        map[string]int64
	keysReached int // accounts whose last sum equals the expected one
}

// newSumReader connects a reader of topic expecting records output records ending in
// the sums want. Set latencies (to an empty slice) to have it take the latency of every
// record not of a warm-up account.
func newSumReader(ctx context.Context, addr, topic string, want map[string]int64, records int64) (*sumReader, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, err
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("output reader: %w", err)
	}
	return &sumReader{cl: cl, want: want, records: records, done: make(chan struct{}), sums: make(map[string]int64, len(want))}, nil
}

// start starts reading in the background; times run from now.
func (r *sumReader) start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	go r.run(ctx, time.Now())
}

// close stops reading, if started, and disconnects.
func (r *sumReader) close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.cl.Close()
}

// run reads until the output is complete, wrong, or ctx ends.
func (r *sumReader) run(ctx context.Context, start time.Time) {
	defer close(r.done)
	for {
		fs := r.cl.PollFetches(ctx)
		now := time.Now()
		if err := ctx.Err(); err != nil {
			r.err = err
			return
		}
		if err := fs.Err0(); err != nil {
			r.err = fmt.Errorf("output reader: %w", err)
			return
		}
		if r.first == 0 && !fs.Empty() {
			r.first = now.Sub(start)
		}
		for it := fs.RecordIter(); !it.Done(); {
			if r.err = r.add(it.Next(), now); r.err != nil {
				return
			}
		}
		if n := r.seen.Load(); r.keysReached == len(r.want) && n >= r.records {
			if n > r.records {
				r.err = fmt.Errorf("%d output records, want %d: duplicates", n, r.records)
			}
			r.all = now.Sub(start)
			return
		}
	}
}

// add checks one output record read at now.
func (r *sumReader) add(rec *kgo.Record, now time.Time) error {
	r.seen.Add(1)
	key := string(rec.Key)
	want, ok := r.want[key]
	if !ok || len(rec.Value) != 8 {
		return fmt.Errorf("unexpected output record %q = %x", rec.Key, rec.Value)
	}
	sum := int64(binary.BigEndian.Uint64(rec.Value))
	if sum > want {
		return fmt.Errorf("account %s: sum %d above the final %d: input counted twice", key, sum, want)
	}
	if r.sums[key] == want {
		r.keysReached--
	}
	if r.sums[key] = sum; sum == want {
		r.keysReached++
	}
	if r.latencies != nil && !isWarmKey(rec.Key) {
		r.latencies = append(r.latencies, now.Sub(rec.Timestamp))
	}
	return nil
}

// wait waits for run to end, the application to stop or ctx to end, and reports
// what went wrong.
func (r *sumReader) wait(ctx context.Context, failed <-chan error) error {
	select {
	case <-r.done:
		return r.err
	case err := <-failed:
		return fmt.Errorf("%w (%d of %d output records): %w", errAppEnded, r.seen.Load(), r.records, err)
	case <-ctx.Done():
		return fmt.Errorf("%d of %d output records: %w", r.seen.Load(), r.records, ctx.Err())
	}
}
