package broker

import (
	"fmt"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// TestKafkaGoCompat writes with segmentio/kafka-go's Writer (acks=all, compressed) and
// reads everything back with its group Reader, committing explicitly; kafka-go has its
// own protocol code and picks its own API versions.
func TestKafkaGoCompat(t *testing.T) {
	b := startBroker(t, Config{})
	const (
		topic = "kafkago"
		group = "kafkago-group"
		n     = 200
	)
	createTopic(t, b, topic, 3, nil)

	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Addr()),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		Compression:  kafka.Lz4,
		BatchTimeout: 10 * time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	want := map[string]string{}
	for i := range msgs {
		k, v := fmt.Sprintf("key-%03d", i), fmt.Sprintf("value-%03d", i)
		msgs[i] = kafka.Message{Key: []byte(k), Value: []byte(v), Headers: []kafka.Header{{Key: "h", Value: []byte(k)}}}
		want[k] = v
	}
	ctx := testCtx(t, 30*time.Second)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}

	for _, r := range consumeToEnd(t, b.Addr(), topic, 10*time.Second) {
		if want[string(r.Key)] != string(r.Value) || r.Attrs.CompressionType() != 3 {
			t.Errorf("stored %q=%q with codec %d, want %q with lz4 (3)", r.Key, r.Value, r.Attrs.CompressionType(), want[string(r.Key)])
		}
	}

	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{b.Addr()},
		GroupID:           group,
		Topic:             topic,
		MaxWait:           100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		ReadBackoffMax:    100 * time.Millisecond,
	})
	defer rd.Close()
	for range n {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage after %d of %d: %v", n-len(want), n, err)
		}
		if v, ok := want[string(m.Key)]; !ok || v != string(m.Value) || len(m.Headers) != 1 || string(m.Headers[0].Value) != string(m.Key) {
			t.Fatalf("read unexpected %d/%d %q=%q headers %v", m.Partition, m.Offset, m.Key, m.Value, m.Headers)
		}
		delete(want, string(m.Key))
		if err := rd.CommitMessages(ctx, m); err != nil {
			t.Fatalf("CommitMessages: %v", err)
		}
	}
	if err := rd.Close(); err != nil {
		t.Fatalf("close reader: %v", err)
	}
	ends := endOffsets(t, b.Addr(), topic)
	committed := committedOffsets(t, b.Addr(), group, topic)
	for p, end := range ends {
		if committed[p] != end {
			t.Fatalf("group %s committed %v, want the end offsets %v", group, committed, ends)
		}
	}
}
