package testdriver

import (
	"errors"
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// OutputTopic reads, in the order they were written, the records the topology wrote
// to one topic: a sink's topic, a repartition topic or a changelog topic. Reading
// consumes: OutputTopics of the same topic share one position, as consumers of
// Kafka's driver do. A record the serdes cannot decode is reported and left unread.
//
// Null bytes (a tombstone, or a null key) decode as the runtime's sources decode them:
// serdes that carry null (serde.Bytes, serde.Nullable) give nil, the others give the
// zero value; ReadKeyValuesToMap treats a null value as a delete.
type OutputTopic[K, V any] struct {
	topic  *topic
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// OutputRecord is a record read from an output topic with the place it was written.
type OutputRecord[K, V any] struct {
	// Record is the decoded record.
	Record runtime.Record[K, V]
	// Topic, Partition and Offset say where it was written.
	Topic     string
	Partition int32
	Offset    int64
}

// CreateOutputTopic returns a reader of topic, which a sink of the topology must write
// (a fixed topic, or any topic when a sink chooses topics per record), or which must
// be a repartition or changelog topic of the application.
func (d *Driver) CreateOutputTopic[K, V any](name string, keys serde.Serde[K], values serde.Serde[V]) (*OutputTopic[K, V], error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if keys == nil || values == nil {
		return nil, fmt.Errorf("testdriver: output topic %q: key and value serdes are required", name)
	}
	if _, known := d.topics[name]; !known && !d.dynamicSinks {
		return nil, fmt.Errorf("%w: nothing writes %q", ErrUnknownTopic, name)
	}
	return &OutputTopic[K, V]{topic: d.topicFor(name), keys: keys, values: values}, nil
}

// Partitions returns the topic's partition count.
func (o *OutputTopic[K, V]) Partitions() int32 { return o.topic.partitions }

// QueueSize returns the number of unread records.
func (o *OutputTopic[K, V]) QueueSize() int { return len(o.topic.written) - o.topic.read }

// IsEmpty reports whether every record was read.
func (o *OutputTopic[K, V]) IsEmpty() bool { return o.QueueSize() == 0 }

// ReadOutputRecord reads the next record with its partition and offset.
func (o *OutputTopic[K, V]) ReadOutputRecord() (OutputRecord[K, V], error) {
	t := o.topic
	if t.read >= len(t.written) {
		return OutputRecord[K, V]{}, fmt.Errorf("%w: topic %q", ErrNoRecord, t.name)
	}
	w := &t.written[t.read]
	k, err := decode(o.keys, w.rec.Key)
	if err != nil {
		return OutputRecord[K, V]{}, fmt.Errorf("testdriver: topic %q partition %d offset %d: key: %w", t.name, w.rec.Partition, w.offset, err)
	}
	v, err := decode(o.values, w.rec.Value)
	if err != nil {
		return OutputRecord[K, V]{}, fmt.Errorf("testdriver: topic %q partition %d offset %d: value: %w", t.name, w.rec.Partition, w.offset, err)
	}
	out := OutputRecord[K, V]{
		Record:    runtime.Record[K, V]{Key: k, Value: v, Timestamp: w.rec.Timestamp, Headers: w.rec.Headers},
		Topic:     t.name,
		Partition: w.rec.Partition,
		Offset:    w.offset,
	}
	t.consume()
	return out, nil
}

// ReadRecord reads the next record; it returns an error wrapping ErrNoRecord when
// there is none.
func (o *OutputTopic[K, V]) ReadRecord() (runtime.Record[K, V], error) {
	r, err := o.ReadOutputRecord()
	return r.Record, err
}

// ReadKeyValue reads the next record's key and value.
func (o *OutputTopic[K, V]) ReadKeyValue() (KeyValue[K, V], error) {
	r, err := o.ReadRecord()
	return KeyValue[K, V]{Key: r.Key, Value: r.Value}, err
}

// ReadValue reads the next record's value.
func (o *OutputTopic[K, V]) ReadValue() (V, error) {
	r, err := o.ReadRecord()
	return r.Value, err
}

// ReadRecordsToList reads every unread record. On a decode error it returns the
// records read before it.
func (o *OutputTopic[K, V]) ReadRecordsToList() ([]runtime.Record[K, V], error) {
	return readAll(o, func(r OutputRecord[K, V]) runtime.Record[K, V] { return r.Record })
}

// ReadOutputRecordsToList reads every unread record with its partition and offset.
func (o *OutputTopic[K, V]) ReadOutputRecordsToList() ([]OutputRecord[K, V], error) {
	return readAll(o, func(r OutputRecord[K, V]) OutputRecord[K, V] { return r })
}

// ReadKeyValuesToList reads the key and value of every unread record.
func (o *OutputTopic[K, V]) ReadKeyValuesToList() ([]KeyValue[K, V], error) {
	return readAll(o, func(r OutputRecord[K, V]) KeyValue[K, V] {
		return KeyValue[K, V]{Key: r.Record.Key, Value: r.Record.Value}
	})
}

// ReadValuesToList reads the value of every unread record.
func (o *OutputTopic[K, V]) ReadValuesToList() ([]V, error) {
	return readAll(o, func(r OutputRecord[K, V]) V { return r.Record.Value })
}

// ReadKeyValuesToMap reads every unread record into a map holding the last value of
// each key; a null value (a tombstone) deletes the key, as a table would. It is a
// function because a map needs comparable keys, a constraint an OutputTopic's method
// cannot add.
func ReadKeyValuesToMap[K comparable, V any](o *OutputTopic[K, V]) (map[K]V, error) {
	out := map[K]V{}
	t := o.topic
	for !o.IsEmpty() {
		w := &t.written[t.read]
		if w.rec.Value != nil {
			r, err := o.ReadRecord()
			if err != nil {
				return out, err
			}
			out[r.Key] = r.Value
			continue
		}
		k, err := decode(o.keys, w.rec.Key)
		if err != nil {
			return out, fmt.Errorf("testdriver: topic %q partition %d offset %d: key: %w", t.name, w.rec.Partition, w.offset, err)
		}
		t.consume()
		delete(out, k)
	}
	return out, nil
}

func readAll[K, V, T any](o *OutputTopic[K, V], conv func(OutputRecord[K, V]) T) ([]T, error) {
	out := make([]T, 0, o.QueueSize())
	for !o.IsEmpty() {
		r, err := o.ReadOutputRecord()
		if err != nil {
			return out, err
		}
		out = append(out, conv(r))
	}
	return out, nil
}

// decode decodes b, giving null the zero value when the serde cannot represent it,
// the rule of the runtime's sources.
func decode[T any](s serde.Serde[T], b []byte) (T, error) {
	v, err := s.Decode(b)
	if err != nil && b == nil && errors.Is(err, serde.ErrNull) {
		var zero T
		return zero, nil
	}
	return v, err
}
