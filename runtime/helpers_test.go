package runtime_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// collector keeps every record a task produces.
type collector struct {
	mu   sync.Mutex
	recs []runtime.ProducedRecord
	next map[runtime.TopicPartition]int64 // offsets, when acting as an OffsetCollector
}

func (c *collector) Send(r runtime.ProducedRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	return nil
}

// topic returns the records sent to topic, as "key=value@ts" strings decoded with
// string serdes for keys and dec for values.
func (c *collector) topic(topic string, dec func([]byte) string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.recs {
		if r.Topic == topic {
			out = append(out, string(r.Key)+"="+dec(r.Value))
		}
	}
	return out
}

// offsetCollector numbers records per partition as a broker would.
type offsetCollector struct {
	collector
	flushed int
}

func (c *offsetCollector) Send(r runtime.ProducedRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = map[runtime.TopicPartition]int64{}
	}
	c.next[runtime.TopicPartition{Topic: r.Topic, Partition: r.Partition}]++
	c.recs = append(c.recs, r)
	return nil
}

func (c *offsetCollector) Flush() error { c.flushed++; return nil }

func (c *offsetCollector) NextOffset(topic string, partition int32) (int64, bool) {
	n, ok := c.next[runtime.TopicPartition{Topic: topic, Partition: partition}]
	return n, ok
}

func str(b []byte) string {
	if b == nil {
		return "<null>"
	}
	return string(b)
}

func i64(b []byte) string {
	if b == nil {
		return "<null>"
	}
	v, err := serde.Int64().Decode(b)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return strconv.FormatInt(v, 10)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// drain processes until the task has nothing left.
func drain(t testing.TB, task *runtime.Task) {
	t.Helper()
	for {
		ok, err := task.Process()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
	}
}

func rec(topic string, partition int32, offset int64, key, value string, ts int64) runtime.ConsumedRecord {
	return runtime.ConsumedRecord{Topic: topic, Partition: partition, Offset: offset, Key: []byte(key), Value: []byte(value), Timestamp: ts}
}

func strSource(topics ...string) runtime.SourceConfig[string, string] {
	return runtime.SourceConfig[string, string]{Topics: topics, Keys: serde.String(), Values: serde.String()}
}

func strSink(topic string) runtime.SinkConfig[string, string] {
	return runtime.SinkConfig[string, string]{Topic: topic, Keys: serde.String(), Values: serde.String()}
}
