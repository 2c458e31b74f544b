package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests run librdkafka, through the kcat command line tool, against the broker: an
// independent client with its own feature detection, batching and group protocol.

// kcatPath returns the kcat binary, skipping the test when it is not installed (CI
// installs it).
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not on PATH")
	}
	return p
}

// runKcat runs kcat with args and stdin, bounded by timeout, and returns its stdout and
// stderr. A non-zero exit fails the test.
func runKcat(t *testing.T, timeout time.Duration, stdin []byte, args ...string) (stdout []byte, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v (context: %v)\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), kcatTail(errOut.String(), 4000))
	}
	return out.Bytes(), errOut.String()
}

// kcatTail keeps the last n bytes of s, where the error usually is.
func kcatTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// kcatMessage is one message as kcat -J prints it.
type kcatMessage struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
	Headers   []string `json:"headers"`
}

func parseKcatMessages(t *testing.T, out []byte) []kcatMessage {
	t.Helper()
	var msgs []kcatMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m kcatMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat output line %q: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// checkKcatMessages checks that msgs are exactly the records want, at their partitions
// and offsets.
func checkKcatMessages(t *testing.T, msgs []kcatMessage, want []*kgo.Record) {
	t.Helper()
	type pos struct {
		p int32
		o int64
	}
	byPos := make(map[pos]*kgo.Record, len(want))
	for _, r := range want {
		byPos[pos{r.Partition, r.Offset}] = r
	}
	seen := map[pos]bool{}
	for _, m := range msgs {
		p := pos{m.Partition, m.Offset}
		r, ok := byPos[p]
		switch {
		case !ok:
			t.Errorf("kcat read an unexpected message at %d/%d", m.Partition, m.Offset)
		case seen[p]:
			t.Errorf("kcat read %d/%d twice", m.Partition, m.Offset)
		case m.Key == nil || *m.Key != string(r.Key) || m.Payload == nil || *m.Payload != string(r.Value):
			t.Errorf("kcat read %d/%d as key %v value %v, want %q %q", m.Partition, m.Offset, m.Key, m.Payload, r.Key, r.Value)
		}
		seen[p] = true
	}
	if len(seen) != len(want) {
		t.Errorf("kcat read %d distinct messages, want %d", len(seen), len(want))
	}
}

// produceTestRecords writes n keyed records with a header to topic with franz-go and
// returns them with their offsets.
func produceTestRecords(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := addrClient(t, addr, kgo.DefaultProduceTopic(topic))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Key:     fmt.Appendf(nil, "key-%04d", i),
			Value:   fmt.Appendf(nil, "value-%04d", i),
			Headers: []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}},
		}
	}
	if err := cl.ProduceSync(testCtx(t, 20*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return recs
}

func TestKcatMetadata(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{})
	createTopic(t, b, "kcat-meta-a", 3, nil)
	createTopic(t, b, "kcat-meta-b", 1, nil)

	out, _ := runKcat(t, 20*time.Second, nil, "-L", "-J", "-b", b.Addr())
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32  `json:"partition"`
				Leader    int32  `json:"leader"`
				Error     string `json:"error"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J output %q: %v", out, err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || md.Brokers[0].Name != b.Addr() {
		t.Errorf("brokers = %+v, want node 1 at %s", md.Brokers, b.Addr())
	}
	want := map[string]int{"kcat-meta-a": 3, "kcat-meta-b": 1}
	for _, tp := range md.Topics {
		n, ok := want[tp.Topic]
		if !ok {
			continue
		}
		delete(want, tp.Topic)
		if tp.Error != "" || len(tp.Partitions) != n {
			t.Errorf("topic %s: error %q, %d partitions, want %d", tp.Topic, tp.Error, len(tp.Partitions), n)
		}
		for _, p := range tp.Partitions {
			if p.Leader != 1 || p.Error != "" {
				t.Errorf("topic %s partition %d: leader %d error %q", tp.Topic, p.Partition, p.Leader, p.Error)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("topics missing from kcat -L: %v\n%s", want, out)
	}
}

// TestKcatProduceCompressed produces with every codec and checks that librdkafka did
// compress (it silently stops when it thinks the broker cannot take a codec) and that
// the batches are stored compressed and read back by both franz-go and librdkafka.
func TestKcatProduceCompressed(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{})
	cases := []struct {
		codec string
		attr  uint8 // the codec bits of the stored batches' attributes
		extra []string
	}{
		{codec: "gzip", attr: 1},
		{codec: "snappy", attr: 2},
		{codec: "lz4", attr: 3},
		{codec: "zstd", attr: 4},
		{codec: "zstd", attr: 4, extra: []string{"-X", "enable.idempotence=true"}},
	}
	for i, tc := range cases {
		name := tc.codec
		if len(tc.extra) > 0 {
			name += " idempotent"
		}
		t.Run(name, func(t *testing.T) {
			const n = 200
			topic := fmt.Sprintf("kcat-%s-%d", tc.codec, i)
			createTopic(t, b, topic, 2, nil)
			var in bytes.Buffer
			want := map[string]string{}
			for j := range n {
				k, v := fmt.Sprintf("k%03d", j), strings.Repeat("compressible eddy value ", 8)+fmt.Sprint(j)
				want[k] = v
				fmt.Fprintf(&in, "%s:%s\n", k, v)
			}
			args := []string{"-P", "-b", b.Addr(), "-t", topic, "-K", ":", "-X", "compression.codec=" + tc.codec, "-d", "msg"}
			_, stderr := runKcat(t, 20*time.Second, in.Bytes(), append(args, tc.extra...)...)
			if strings.Contains(stderr, "not compressing batch") {
				t.Errorf("librdkafka did not compress with %s:\n%s", tc.codec, kcatTail(stderr, 4000))
			}

			recs := consumeToEnd(t, b.Addr(), topic, 10*time.Second)
			if len(recs) != n {
				t.Fatalf("stored %d records, want %d", len(recs), n)
			}
			for _, r := range recs {
				if got := r.Attrs.CompressionType(); got != tc.attr {
					t.Fatalf("record %d/%d stored with codec %d, want %d (%s)", r.Partition, r.Offset, got, tc.attr, tc.codec)
				}
				if want[string(r.Key)] != string(r.Value) {
					t.Fatalf("record %d/%d: key %q value %q", r.Partition, r.Offset, r.Key, r.Value)
				}
				delete(want, string(r.Key))
			}

			out, _ := runKcat(t, 15*time.Second, nil, "-C", "-b", b.Addr(), "-t", topic, "-o", "beginning", "-e", "-J")
			checkKcatMessages(t, parseKcatMessages(t, out), recs)
		})
	}
}

func TestKcatConsume(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{})
	const topic = "kcat-consume"
	createTopic(t, b, topic, 3, nil)
	recs := produceTestRecords(t, b.Addr(), topic, 300)

	out, _ := runKcat(t, 15*time.Second, nil, "-C", "-b", b.Addr(), "-t", topic, "-o", "beginning", "-e", "-J")
	msgs := parseKcatMessages(t, out)
	checkKcatMessages(t, msgs, recs)
	byValue := map[string]*kgo.Record{}
	for _, r := range recs {
		byValue[string(r.Value)] = r
	}
	for _, m := range msgs {
		r := byValue[*m.Payload]
		if r == nil {
			continue
		}
		if want := []string{"h", string(r.Headers[0].Value)}; len(m.Headers) != 2 || m.Headers[0] != want[0] || m.Headers[1] != want[1] {
			t.Errorf("message %d/%d headers %q, want %q", m.Partition, m.Offset, m.Headers, want)
		}
	}
}

// TestKcatConsumerGroup consumes with librdkafka's group consumer (join, sync, offset
// fetch, heartbeats, commit, leave) and checks the offsets it committed.
func TestKcatConsumerGroup(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{})
	const (
		topic = "kcat-group"
		group = "kcat-group-1"
	)
	createTopic(t, b, topic, 3, nil)
	recs := produceTestRecords(t, b.Addr(), topic, 300)

	out, _ := runKcat(t, 20*time.Second, nil, "-b", b.Addr(), "-G", group,
		"-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100",
		"-e", "-J", topic)
	checkKcatMessages(t, parseKcatMessages(t, out), recs)

	ends := endOffsets(t, b.Addr(), topic)
	committed := committedOffsets(t, b.Addr(), group, topic)
	for p, end := range ends {
		if committed[p] != end {
			t.Errorf("group %s committed %v, want the end offsets %v", group, committed, ends)
			break
		}
	}
}
