package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSaramaCompat runs IBM/sarama against the broker at several protocol versions:
// sarama picks request versions from Config.Version (capped by ApiVersions), so each
// version exercises other encodings of the same APIs.
func TestSaramaCompat(t *testing.T) {
	b := startBroker(t, Config{})
	versions := []struct {
		name    string
		version sarama.KafkaVersion
	}{
		{"default", sarama.NewConfig().Version},
		{"V1_0_0_0", sarama.V1_0_0_0},
		{"V2_8_0_0", sarama.V2_8_0_0},
		{"V3_6_0_0", sarama.V3_6_0_0},
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			topic := "sarama-" + v.name
			createTopic(t, b, topic, 3, nil)
			sent := map[string]recordPos{}
			saramaProduce(t, b.Addr(), topic, saramaConfig(v.version), "plain", sent)

			idem := saramaConfig(v.version)
			idem.Producer.Idempotent = true
			idem.Net.MaxOpenRequests = 1
			idem.Producer.Compression = sarama.CompressionSnappy
			saramaProduce(t, b.Addr(), topic, idem, "idempotent", sent)

			for _, r := range consumeToEnd(t, b.Addr(), topic, 10*time.Second) {
				if pos, ok := sent[string(r.Value)]; !ok || pos != (recordPos{r.Partition, r.Offset}) {
					t.Errorf("stored %q at %d/%d, sarama was told %v (known: %v)", r.Value, r.Partition, r.Offset, pos, ok)
				}
				delete(sent, string(r.Value))
			}
			if len(sent) > 0 {
				t.Errorf("%d acknowledged records not stored", len(sent))
			}

			saramaConsumeGroup(t, b.Addr(), topic, "sarama-group-"+v.name, saramaConfig(v.version))
		})
	}
}

func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "eddy-compat-test"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	return cfg
}

// saramaProduce sends records one at a time and in a batch with a SyncProducer and notes
// where sarama was told each one went.
func saramaProduce(t *testing.T, addr, topic string, cfg *sarama.Config, prefix string, sent map[string]recordPos) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("%s producer: %v", prefix, err)
	}
	defer p.Close()
	msg := func(i int) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
			Value:   sarama.StringEncoder(fmt.Sprintf("%s-%03d", prefix, i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(prefix)}},
		}
	}
	for i := range 20 {
		m := msg(i)
		part, off, err := p.SendMessage(m)
		if err != nil {
			t.Fatalf("%s SendMessage: %v", prefix, err)
		}
		sent[fmt.Sprintf("%s-%03d", prefix, i)] = recordPos{part, off}
	}
	var batch []*sarama.ProducerMessage
	for i := 20; i < 60; i++ {
		batch = append(batch, msg(i))
	}
	if err := p.SendMessages(batch); err != nil {
		t.Fatalf("%s SendMessages: %v", prefix, err)
	}
	for i, m := range batch {
		sent[fmt.Sprintf("%s-%03d", prefix, 20+i)] = recordPos{m.Partition, m.Offset}
	}
}

// saramaConsumeGroup reads the whole topic with a sarama consumer group, marking every
// message, and checks that the group's committed offsets reach the end of the topic.
func saramaConsumeGroup(t *testing.T, addr, topic, group string, cfg *sarama.Config) {
	t.Helper()
	ends := endOffsets(t, addr, topic)
	var want int64
	for _, end := range ends {
		want += end
	}
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range cg.Errors() {
			t.Errorf("sarama consumer group error: %v", err)
		}
	}()
	defer func() {
		cg.Close()
		<-errsDone
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := &saramaHandler{seen: map[recordPos]bool{}, want: want, done: cancel}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume: %v", err)
		}
	}
	if n := h.count(); n != want {
		t.Fatalf("consumer group read %d distinct records in 30s, want %d", n, want)
	}
	if err := cg.Close(); err != nil {
		t.Fatalf("close consumer group: %v", err)
	}
	committed := committedOffsets(t, addr, group, topic)
	for p, end := range ends {
		if committed[p] != end {
			t.Fatalf("group %s committed %v, want the end offsets %v", group, committed, ends)
		}
	}
}

// saramaHandler marks every message it gets and ends the consumption once it has seen
// want distinct ones.
type saramaHandler struct {
	mu   sync.Mutex
	seen map[recordPos]bool
	want int64
	done context.CancelFunc
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			sess.MarkMessage(m, "")
			h.mu.Lock()
			h.seen[recordPos{m.Partition, m.Offset}] = true
			if int64(len(h.seen)) == h.want {
				h.done()
			}
			h.mu.Unlock()
		}
	}
}

func (h *saramaHandler) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.seen))
}
