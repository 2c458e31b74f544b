package broker

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaTransactions runs IBM/sarama's transactional producer (its own transaction
// manager: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn with TxnOffsetCommit,
// EndTxn) against the broker at several protocol versions: commits, aborts, offsets sent
// to a group within a transaction, and a producer fenced by a successor with its
// transactional ID. sarama's read_committed consumer must read exactly the committed
// records, at the offsets the producer was given.
func TestSaramaTransactions(t *testing.T) {
	b := startBroker(t, Config{})
	versions := []struct {
		name    string
		version sarama.KafkaVersion
	}{
		{"V2_0_0_0", sarama.V2_0_0_0},
		{"default", sarama.NewConfig().Version},
		{"V3_6_0_0", sarama.V3_6_0_0},
		{"V4_0_0_0", sarama.V4_0_0_0},
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			topic, in, group := "sarama-txn-"+v.name, "sarama-txn-in-"+v.name, "sarama-txn-group-"+v.name
			createTopic(t, b, topic, 3, nil)
			createTopic(t, b, in, 2, nil)
			txnID := "sarama-txn-" + v.name
			p := saramaTxnProducer(t, b.Addr(), v.version, txnID)
			defer p.Close()

			var committed, aborted []*sarama.ProducerMessage
			committed = append(committed, saramaTxn(t, p, topic, "commit-a", nil, "", true)...)
			aborted = append(aborted, saramaTxn(t, p, topic, "abort-a", nil, "", false)...)
			offsets := map[string][]*sarama.PartitionOffsetMetadata{in: {{Partition: 0, Offset: 5}, {Partition: 1, Offset: 7}}}
			committed = append(committed, saramaTxn(t, p, topic, "commit-b", offsets, group, true)...)
			dropped := map[string][]*sarama.PartitionOffsetMetadata{in: {{Partition: 0, Offset: 100}}}
			aborted = append(aborted, saramaTxn(t, p, topic, "abort-b", dropped, group, false)...)

			// A second producer with the same transactional ID fences the first in the
			// middle of a transaction, which the coordinator aborts.
			if err := p.BeginTxn(); err != nil {
				t.Fatalf("begin: %v", err)
			}
			fenced := saramaTxnMessages(topic, "fenced", 12)
			if err := p.SendMessages(fenced); err != nil {
				t.Fatalf("send before the fence: %v", err)
			}
			aborted = append(aborted, fenced...)
			successor := saramaTxnProducer(t, b.Addr(), v.version, txnID)
			defer successor.Close()
			// EndTxn v2 (Kafka 2.7, KIP-588) brought PRODUCER_FENCED; older versions
			// know a fenced producer as INVALID_PRODUCER_EPOCH.
			wantFenced := sarama.ErrProducerFenced
			if !v.version.IsAtLeast(sarama.V2_7_0_0) {
				wantFenced = sarama.ErrInvalidProducerEpoch
			}
			if err := p.CommitTxn(); !errors.Is(err, wantFenced) {
				t.Errorf("the fenced producer's commit answered %v, want %v", err, wantFenced)
			}
			committed = append(committed, saramaTxn(t, successor, topic, "successor", nil, "", true)...)

			want := map[recordPos]string{}
			for _, m := range committed {
				want[recordPos{m.Partition, m.Offset}] = saramaValue(t, m)
			}
			all := maps.Clone(want)
			for _, m := range aborted {
				all[recordPos{m.Partition, m.Offset}] = saramaValue(t, m)
			}
			for _, iso := range []sarama.IsolationLevel{sarama.ReadCommitted, sarama.ReadUncommitted} {
				exp := want
				if iso == sarama.ReadUncommitted {
					exp = all
				}
				got := saramaReadAll(t, b.Addr(), v.version, topic, 3, iso)
				for pos, val := range exp {
					if got[pos] != val {
						t.Errorf("isolation %d: %d/%d read as %q, want %q", iso, pos.partition, pos.offset, got[pos], val)
					}
				}
				for pos, val := range got {
					if _, ok := exp[pos]; !ok {
						t.Errorf("isolation %d: read %q at %d/%d, which it should not see", iso, val, pos.partition, pos.offset)
					}
				}
			}

			if got := committedOffsets(t, b.Addr(), group, in); len(got) != 2 || got[0] != 5 || got[1] != 7 {
				t.Errorf("group %s offsets %v, want the committed transaction's {0:5 1:7}", group, got)
			}
		})
	}
}

// saramaTxnProducer returns a transactional sync producer; NewSyncProducer initialises
// its transactions (InitProducerId).
func saramaTxnProducer(t *testing.T, addr string, v sarama.KafkaVersion, txnID string) sarama.SyncProducer {
	t.Helper()
	cfg := saramaConfig(v)
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = txnID
	cfg.Producer.Transaction.Retry.Backoff = 20 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("transactional producer %s: %v", txnID, err)
	}
	return p
}

// saramaTxnMessages returns n messages named prefix spread over three partitions.
func saramaTxnMessages(topic, prefix string, n int) []*sarama.ProducerMessage {
	ms := make([]*sarama.ProducerMessage, n)
	for i := range ms {
		ms[i] = &sarama.ProducerMessage{
			Topic:     topic,
			Partition: int32(i % 3),
			Value:     sarama.StringEncoder(fmt.Sprintf("%s-%03d", prefix, i)),
		}
	}
	return ms
}

// saramaTxn sends 12 messages in one transaction, with offsets for group when given, and
// commits or aborts it. It returns the messages, which sarama has given their offsets.
func saramaTxn(t *testing.T, p sarama.SyncProducer, topic, prefix string, offsets map[string][]*sarama.PartitionOffsetMetadata, group string, commit bool) []*sarama.ProducerMessage {
	t.Helper()
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("%s: begin: %v", prefix, err)
	}
	ms := saramaTxnMessages(topic, prefix, 12)
	if err := p.SendMessages(ms[:4]); err != nil {
		t.Fatalf("%s: send: %v", prefix, err)
	}
	for _, m := range ms[4:] {
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatalf("%s: send: %v", prefix, err)
		}
	}
	if offsets != nil {
		if err := p.AddOffsetsToTxn(offsets, group); err != nil {
			t.Fatalf("%s: add offsets: %v", prefix, err)
		}
	}
	end, name := p.CommitTxn, "commit"
	if !commit {
		end, name = p.AbortTxn, "abort"
	}
	if err := end(); err != nil {
		t.Fatalf("%s: %s: %v", prefix, name, err)
	}
	if st := p.TxnStatus(); st&sarama.ProducerTxnFlagReady == 0 {
		t.Errorf("%s: producer status %v after %s, want ready", prefix, st, name)
	}
	return ms
}

func saramaValue(t *testing.T, m *sarama.ProducerMessage) string {
	t.Helper()
	v, err := m.Value.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// saramaReadAll appends a plain sentinel record to every partition, then reads every
// partition from the start with a sarama consumer at isolation level iso up to the
// sentinel, and returns the values read by position.
func saramaReadAll(t *testing.T, addr string, v sarama.KafkaVersion, topic string, parts int32, iso sarama.IsolationLevel) map[recordPos]string {
	t.Helper()
	sentinel := fmt.Sprintf("sentinel-%d", time.Now().UnixNano())
	var marks []*kgo.Record
	for p := range parts {
		marks = append(marks, &kgo.Record{Topic: topic, Partition: p, Value: []byte(sentinel)})
	}
	plain := addrClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(testCtx(t, 10*time.Second), marks...).FirstErr(); err != nil {
		t.Fatalf("produce sentinels: %v", err)
	}

	cfg := saramaConfig(v)
	cfg.Consumer.IsolationLevel = iso
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	got := map[recordPos]string{}
	timeout := time.After(10 * time.Second)
	for p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume %s-%d: %v", topic, p, err)
		}
	reading:
		for {
			select {
			case m := <-pc.Messages():
				if string(m.Value) == sentinel {
					break reading
				}
				if strings.HasPrefix(string(m.Value), "sentinel-") {
					continue
				}
				got[recordPos{m.Partition, m.Offset}] = string(m.Value)
			case err := <-pc.Errors():
				t.Fatalf("consume %s-%d: %v", topic, p, err)
			case <-timeout:
				t.Fatalf("isolation %d: sentinel of %s-%d not read within 10s", iso, topic, p)
			}
		}
		pc.Close()
	}
	return got
}
