package testdriver

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
)

// topic is one in-memory topic: its partitions' next offsets, who reads it, and the
// records the topology wrote to it, kept for OutputTopic.
type topic struct {
	name       string
	partitions int32
	next       []int64 // next offset per partition
	roundRobin int32   // next partition for a null key

	reader int  // sub-topology whose source reads it; -1 for none
	global bool // feeds a global store

	written []written // records the topology produced, in the order it produced them
	read    int       // written[:read] were consumed by an OutputTopic (and cleared)
}

// written is one record the topology produced, with the place it landed.
type written struct {
	rec    runtime.ProducedRecord
	offset int64
}

func newTopic(name string, partitions int32) *topic {
	return &topic{name: name, partitions: partitions, next: make([]int64, partitions), reader: -1}
}

// partitionFor picks the partition of a record: explicit when partition >= 0, else by
// the key's hash, or round robin for a null key, as Kafka's producers do.
func (t *topic) partitionFor(partition int32, key []byte) (int32, error) {
	switch {
	case partition < -1 || partition >= t.partitions:
		return 0, fmt.Errorf("%w: partition %d of topic %q, which has %d", ErrInvalidPartition, partition, t.name, t.partitions)
	case partition >= 0:
		return partition, nil
	case key != nil:
		return runtime.DefaultPartition(key, t.partitions), nil
	}
	p := t.roundRobin
	t.roundRobin = (t.roundRobin + 1) % t.partitions
	return p, nil
}

// consume marks the oldest unread record read, dropping read records in bulk so that
// a test that reads as it goes keeps memory flat.
func (t *topic) consume() {
	t.written[t.read] = written{}
	t.read++
	if t.read >= 1024 && t.read*2 >= len(t.written) {
		n := copy(t.written, t.written[t.read:])
		clear(t.written[n:])
		t.written, t.read = t.written[:n], 0
	}
}

// append gives a record in partition p the next offset.
func (t *topic) append(p int32) int64 {
	off := t.next[p]
	t.next[p]++
	return off
}

// delivery is a record on its way to the task, or the global task, reading its topic.
type delivery struct {
	topic *topic
	rec   runtime.ConsumedRecord
}

// collector is the runtime.RecordCollector (and OffsetCollector) of every task: it
// writes sink output and changelog records into the in-memory topics and queues the
// records of topics the topology reads for delivery.
type collector struct{ d *Driver }

// Send places r in its topic, creating topics that dynamic sinks name.
func (c collector) Send(r runtime.ProducedRecord) error {
	t := c.d.topicFor(r.Topic)
	p, err := t.partitionFor(r.Partition, r.Key)
	if err != nil {
		return err
	}
	r.Partition = p
	off := t.append(p)
	t.written = append(t.written, written{rec: r, offset: off})
	if t.reader >= 0 || t.global {
		c.d.pending = append(c.d.pending, delivery{topic: t, rec: runtime.ConsumedRecord{
			Topic: r.Topic, Partition: p, Offset: off, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers,
		}})
	}
	return nil
}

// Flush has nothing to wait for: Send writes at once.
func (collector) Flush() error { return nil }

// NextOffset returns the offset after the last record of topic-partition, so that
// stores commit with the changelog position they reflect, as in production.
func (c collector) NextOffset(name string, partition int32) (int64, bool) {
	t, ok := c.d.topics[name]
	if !ok || partition < 0 || partition >= t.partitions {
		return 0, false
	}
	return t.next[partition], true
}

// topicFor returns the topic name, creating it with the configured partition count
// (default 1) when the topology writes a topic it did not declare.
func (d *Driver) topicFor(name string) *topic {
	if t, ok := d.topics[name]; ok {
		return t
	}
	t := newTopic(name, d.externalPartitions(name))
	d.topics[name] = t
	return t
}

// externalPartitions is the partition count of a topic outside the application.
func (d *Driver) externalPartitions(name string) int32 {
	if n := d.cfg.Partitions[name]; n > 0 {
		return n
	}
	return 1
}

// partitionCount answers sinks' partitioners (runtime.TaskConfig.PartitionCount).
func (d *Driver) partitionCount(name string) int32 { return d.topicFor(name).partitions }
