package testdriver

import (
	"fmt"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// KeyValue is a key and a value, as piped by PipeKeyValues and read by ReadKeyValue.
type KeyValue[K, V any] = state.KeyValue[K, V]

// InputTopic pipes typed records into one topic the topology reads. Records without
// an explicit timestamp get the topic's current time, which then advances by the
// auto-advance step, as in Kafka's TestInputTopic.
type InputTopic[K, V any] struct {
	d       *Driver
	topic   *topic
	keys    serde.Serde[K]
	values  serde.Serde[V]
	current int64 // timestamp of the next record without one, ms
	advance int64 // ms added to current after each such record
}

// InputOption configures an InputTopic.
type InputOption func(*inputOptions)

type inputOptions struct {
	start   time.Time
	advance time.Duration
}

// WithStartTime sets the timestamp of the first record piped without one; the default
// is the driver's initial wall clock.
func WithStartTime(t time.Time) InputOption {
	return func(o *inputOptions) { o.start = t }
}

// WithAutoAdvance sets how far the topic's time moves after each record piped without
// a timestamp; the default is zero.
func WithAutoAdvance(step time.Duration) InputOption {
	return func(o *inputOptions) { o.advance = step }
}

// CreateInputTopic returns an input to topic, which a source of the topology (or a
// global store) must read, encoding keys and values with the given serdes.
func (d *Driver) CreateInputTopic[K, V any](name string, keys serde.Serde[K], values serde.Serde[V], opts ...InputOption) (*InputTopic[K, V], error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if keys == nil || values == nil {
		return nil, fmt.Errorf("testdriver: input topic %q: key and value serdes are required", name)
	}
	t, ok := d.topics[name]
	if !ok || (t.reader < 0 && !t.global) {
		return nil, fmt.Errorf("%w: no source reads %q", ErrUnknownTopic, name)
	}
	o := inputOptions{start: d.cfg.InitialWallClock}
	for _, opt := range opts {
		opt(&o)
	}
	if o.advance < 0 {
		return nil, fmt.Errorf("testdriver: input topic %q: negative auto-advance %v", name, o.advance)
	}
	return &InputTopic[K, V]{d: d, topic: t, keys: keys, values: values, current: o.start.UnixMilli(), advance: o.advance.Milliseconds()}, nil
}

// Partitions returns the topic's partition count.
func (in *InputTopic[K, V]) Partitions() int32 { return in.topic.partitions }

// AdvanceTime moves the time of the next record piped without a timestamp.
func (in *InputTopic[K, V]) AdvanceTime(step time.Duration) { in.current += step.Milliseconds() }

// nextTime returns the topic's current time and advances it.
func (in *InputTopic[K, V]) nextTime() int64 {
	ts := in.current
	in.current += in.advance
	return ts
}

// PipeInput pipes key and value at the topic's current time to the partition the key
// hashes to, and processes it to completion.
func (in *InputTopic[K, V]) PipeInput(key K, value V) error {
	return in.pipe(-1, runtime.Record[K, V]{Key: key, Value: value, Timestamp: in.nextTime()})
}

// PipeInputAt pipes key and value with timestamp ts, leaving the topic's time alone.
func (in *InputTopic[K, V]) PipeInputAt(key K, value V, ts time.Time) error {
	return in.pipe(-1, runtime.Record[K, V]{Key: key, Value: value, Timestamp: ts.UnixMilli()})
}

// PipeRecord pipes r, with its own timestamp and headers, to the partition its key
// hashes to.
func (in *InputTopic[K, V]) PipeRecord(r runtime.Record[K, V]) error { return in.pipe(-1, r) }

// PipeRecordAt pipes r to partition, whatever its key.
func (in *InputTopic[K, V]) PipeRecordAt(partition int32, r runtime.Record[K, V]) error {
	if partition < 0 {
		return fmt.Errorf("%w: partition %d of topic %q", ErrInvalidPartition, partition, in.topic.name)
	}
	return in.pipe(partition, r)
}

// PipeKeyValues pipes each pair at the topic's current time, advancing it after each,
// processing each to completion before the next; it stops at the first error.
func (in *InputTopic[K, V]) PipeKeyValues(kvs ...KeyValue[K, V]) error {
	for _, kv := range kvs {
		if err := in.PipeInput(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// PipeValues pipes each value with a null key at the topic's current time; records
// with a null key go round robin over the partitions, as producers spread them.
func (in *InputTopic[K, V]) PipeValues(values ...V) error {
	for _, v := range values {
		vb, err := in.values.Encode(v)
		if err != nil {
			return fmt.Errorf("testdriver: topic %q: encode value: %w", in.topic.name, err)
		}
		if err := in.d.pipe(in.topic, -1, runtime.ConsumedRecord{Key: nil, Value: vb, Timestamp: in.nextTime()}); err != nil {
			return err
		}
	}
	return nil
}

// pipe encodes r and hands it to the driver.
func (in *InputTopic[K, V]) pipe(partition int32, r runtime.Record[K, V]) error {
	kb, err := in.keys.Encode(r.Key)
	if err != nil {
		return fmt.Errorf("testdriver: topic %q: encode key: %w", in.topic.name, err)
	}
	vb, err := in.values.Encode(r.Value)
	if err != nil {
		return fmt.Errorf("testdriver: topic %q: encode value: %w", in.topic.name, err)
	}
	return in.d.pipe(in.topic, partition, runtime.ConsumedRecord{Key: kb, Value: vb, Timestamp: r.Timestamp, Headers: r.Headers})
}

// pipe writes rec to partition (-1: by key) of t and processes it unless in a Batch.
func (d *Driver) pipe(t *topic, partition int32, rec runtime.ConsumedRecord) error {
	if err := d.check(); err != nil {
		return err
	}
	p, err := t.partitionFor(partition, rec.Key)
	if err != nil {
		return err
	}
	rec.Topic, rec.Partition, rec.Offset = t.name, p, t.append(p)
	d.pending = append(d.pending, delivery{topic: t, rec: rec})
	return d.drain()
}
