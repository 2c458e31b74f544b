package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer sends a stream thread's sink output and changelog writes (each task's
// through its taskOutput, an OffsetCollector) with the thread's idempotent kgo client
// and remembers the offset after the last acknowledged record of each partition,
// which the stores commit with.
type producer struct {
	cl    *kgo.Client
	ctx   context.Context
	onErr ProductionErrorHandler
	log   *slog.Logger

	sent atomic.Int64 // records sent so far, so a transaction knows whether it is empty

	mu   sync.Mutex
	next map[TopicPartition]int64
	err  error // the first failure the handler said to fail on
	// topics holds every topic a record was acknowledged to; newTopic says one was
	// added since takeNewTopics last looked (see txn.settleCommit).
	topics   map[string]struct{}
	newTopic bool
}

// taskOutput is the producer as one task's Output: records of the task that the
// broker refuses and the handler drops are counted against the task.
type taskOutput struct {
	*producer
	dropped *atomic.Int64
}

var _ OffsetCollector = taskOutput{}

// Send sends r for the task.
func (o taskOutput) Send(r ProducedRecord) error { return o.send(r, o.dropped) }

func newProducer(ctx context.Context, cl *kgo.Client, onErr ProductionErrorHandler, log *slog.Logger) *producer {
	return &producer{cl: cl, ctx: ctx, onErr: onErr, log: log, next: map[TopicPartition]int64{}, topics: map[string]struct{}{}}
}

// taskPartitioner places a record where the task says (Partition >= 0), or by Kafka's
// default rule: murmur2 of the key, round robin for a null key. An explicit partition
// the topic does not have fails the record.
func taskPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		var rr int
		return func(r *kgo.Record, n int) int {
			switch {
			case r.Partition >= int32(n):
				return -1
			case r.Partition >= 0:
				return int(r.Partition)
			case r.Key == nil:
				rr = (rr + 1) % n
				return rr
			}
			return int(DefaultPartition(r.Key, int32(n)))
		}
	})
}

// send buffers r in the client; the broker's answer arrives asynchronously, and a
// record the handler drops is counted in dropped. A failure met earlier is returned
// so the task stops early.
func (p *producer) send(r ProducedRecord, dropped *atomic.Int64) error {
	if err := p.failed(); err != nil {
		return err
	}
	kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.Timestamp)}
	if len(r.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	p.sent.Add(1)
	p.cl.Produce(p.ctx, kr, func(kr *kgo.Record, err error) { p.done(r, kr, err, dropped) })
	return nil
}

// done records the outcome of one record. A record failed because its transaction
// was aborted is no failure: the thread rewinds and produces it again.
func (p *producer) done(r ProducedRecord, kr *kgo.Record, err error, dropped *atomic.Int64) {
	if errors.Is(err, kgo.ErrAborting) {
		return
	}
	if err != nil {
		if p.onErr(r, err) == ActionContinue {
			dropped.Add(1)
			p.log.Warn("dropping a record the broker refused", "topic", r.Topic, "err", err)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err == nil {
			p.err = fmt.Errorf("runtime: produce to %s: %w", r.Topic, err)
		}
		return
	}
	tp := TopicPartition{Topic: kr.Topic, Partition: kr.Partition}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next[tp] = max(p.next[tp], kr.Offset+1)
	if _, ok := p.topics[kr.Topic]; !ok {
		p.topics[kr.Topic] = struct{}{}
		p.newTopic = true
	}
}

// takeNewTopics reports whether a record was acknowledged to a topic for the first time
// since the last call.
func (p *producer) takeNewTopics() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.newTopic
	p.newTopic = false
	return n
}

func (p *producer) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Flush waits until every record sent so far is acknowledged or failed.
func (p *producer) Flush() error {
	if err := p.cl.Flush(p.ctx); err != nil {
		return fmt.Errorf("runtime: flush producer: %w", err)
	}
	return p.failed()
}

// NextOffset returns the offset after the last record acknowledged on the partition.
func (p *producer) NextOffset(topic string, partition int32) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.next[TopicPartition{Topic: topic, Partition: partition}]
	return n, ok
}
