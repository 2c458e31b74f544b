package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kafkajsDir holds the kafkajs compatibility script and its pinned dependency; CI installs
// node_modules there with npm ci.
const kafkajsDir = "testdata/kafkajs"

// kafkajsResult is what testdata/kafkajs/compat.js prints. kafkajs gives offsets as strings.
type kafkajsResult struct {
	Topics   []string `json:"topics"`
	Metadata []struct {
		Name       string `json:"name"`
		Partitions []struct {
			PartitionErrorCode int16 `json:"partitionErrorCode"`
			PartitionID        int32 `json:"partitionId"`
			Leader             int32 `json:"leader"`
		} `json:"partitions"`
	} `json:"metadata"`
	OffsetsBefore []kafkajsTopicOffset `json:"offsetsBefore"`
	OffsetsAfter  []kafkajsTopicOffset `json:"offsetsAfter"`
	Produced      []struct {
		Key  string `json:"key"`
		Gzip bool   `json:"gzip"`
	} `json:"produced"`
	Consumed []struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset,string"`
		Key       *string `json:"key"`
		Value     *string `json:"value"`
	} `json:"consumed"`
	Committed []struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset,string"`
	} `json:"committed"`
	FetchedOffsets []struct {
		Topic      string `json:"topic"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Offset    int64 `json:"offset,string"`
		} `json:"partitions"`
	} `json:"fetchedOffsets"`
}

// kafkajsTopicOffset is one partition of kafkajs's admin.fetchTopicOffsets.
type kafkajsTopicOffset struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset,string"`
	High      int64 `json:"high,string"`
	Low       int64 `json:"low,string"`
}

// kafkajsMessage is message i as compat.js builds it.
func kafkajsMessage(i int) (key, value string) {
	id := fmt.Sprintf("%04d", i)
	return "key-" + id, "value-" + id + " " + strings.Repeat("kafkajs compressible payload ", 4)
}

// kafkajsNode returns the node binary, skipping the test when node or the pinned kafkajs
// is not installed (CI installs both).
func kafkajsNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(kafkajsDir, "node_modules", "kafkajs", "package.json")); err != nil {
		t.Skipf("kafkajs is not installed (run npm ci --prefix broker/%s): %v", kafkajsDir, err)
	}
	return node
}

// runKafkajs runs compat.js with node, bounded by timeout, and decodes what it prints; it
// also returns kafkajs's logs. A failing run fails the test with those logs.
func runKafkajs(t *testing.T, node string, timeout time.Duration, args ...string) (kafkajsResult, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(kafkajsDir, "compat.js")}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("node compat.js %s: %v (context: %v)\nkafkajs stderr:\n%s", strings.Join(args, " "), err, ctx.Err(), kcatTail(errOut.String(), 8000))
	}
	var res kafkajsResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("compat.js output %q: %v\nkafkajs stderr:\n%s", kcatTail(out.String(), 2000), err, kcatTail(errOut.String(), 8000))
	}
	return res, errOut.String()
}

// TestKafkajsCompat runs kafkajs's admin client, idempotent producer (plain and GZIP
// sends) and group consumer against the broker and checks what each saw against the
// stored log.
func TestKafkajsCompat(t *testing.T) {
	node := kafkajsNode(t)
	b := startBroker(t, Config{})
	const (
		topic = "kafkajs"
		group = "kafkajs-group"
		n     = 200
	)
	createTopic(t, b, topic, 3, nil)

	res, logs := runKafkajs(t, node, 25*time.Second, b.Addr(), topic, group, fmt.Sprint(n))
	defer func() {
		if t.Failed() {
			t.Logf("kafkajs stderr:\n%s", kcatTail(logs, 8000))
		}
	}()

	if !slices.Contains(res.Topics, topic) {
		t.Errorf("listTopics = %v, want it to include %s", res.Topics, topic)
	}
	if len(res.Metadata) != 1 || res.Metadata[0].Name != topic || len(res.Metadata[0].Partitions) != 3 {
		t.Errorf("fetchTopicMetadata = %+v, want %s with 3 partitions", res.Metadata, topic)
	} else {
		for _, p := range res.Metadata[0].Partitions {
			if p.Leader != 1 || p.PartitionErrorCode != 0 {
				t.Errorf("fetchTopicMetadata partition %d: leader %d error %d, want leader 1", p.PartitionID, p.Leader, p.PartitionErrorCode)
			}
		}
	}
	if len(res.OffsetsBefore) != 3 {
		t.Errorf("fetchTopicOffsets before producing = %+v, want 3 partitions", res.OffsetsBefore)
	}
	for _, o := range res.OffsetsBefore {
		if o.Offset != 0 || o.High != 0 || o.Low != 0 {
			t.Errorf("fetchTopicOffsets before producing: %+v, want all 0", o)
		}
	}

	// The stored log, read by franz-go: every message once, GZIP where kafkajs compressed,
	// and written by a producer ID (idempotence was really on).
	ends := endOffsets(t, b.Addr(), topic)
	gzipped := map[string]bool{}
	for _, p := range res.Produced {
		gzipped[p.Key] = p.Gzip
	}
	if len(gzipped) != n {
		t.Errorf("compat.js reports %d distinct produced keys, want %d", len(gzipped), n)
	}
	type pos struct {
		p int32
		o int64
	}
	stored := map[pos][2]string{}
	used := map[int32]bool{}
	for _, r := range consumeToEnd(t, b.Addr(), topic, 10*time.Second) {
		stored[pos{r.Partition, r.Offset}] = [2]string{string(r.Key), string(r.Value)}
		used[r.Partition] = true
		var i int
		if _, err := fmt.Sscanf(string(r.Key), "key-%d", &i); err != nil {
			t.Errorf("stored unexpected key %q at %d/%d", r.Key, r.Partition, r.Offset)
			continue
		}
		if _, v := kafkajsMessage(i); string(r.Value) != v {
			t.Errorf("stored %q=%q at %d/%d, want value %q", r.Key, r.Value, r.Partition, r.Offset, v)
		}
		var wantCodec uint8
		if gzipped[string(r.Key)] {
			wantCodec = 1
		}
		if got := r.Attrs.CompressionType(); got != wantCodec {
			t.Errorf("record %q stored with codec %d, want %d", r.Key, got, wantCodec)
		}
		if r.ProducerID < 0 {
			t.Errorf("record %q stored without a producer ID: kafkajs did not produce idempotently", r.Key)
		}
	}
	if len(stored) != n {
		t.Errorf("stored %d records, want %d", len(stored), n)
	}
	if len(used) < 2 {
		t.Errorf("kafkajs's partitioner used partitions %v, want the keys spread over several", used)
	}
	for _, o := range res.OffsetsAfter {
		if o.High != ends[o.Partition] || o.Offset != ends[o.Partition] || o.Low != 0 {
			t.Errorf("fetchTopicOffsets after producing: %+v, want high %d low 0", o, ends[o.Partition])
		}
	}
	if len(res.OffsetsAfter) != 3 {
		t.Errorf("fetchTopicOffsets after producing = %+v, want 3 partitions", res.OffsetsAfter)
	}

	// The group consumer saw every stored message exactly once.
	seen := map[pos]bool{}
	for _, c := range res.Consumed {
		p := pos{c.Partition, c.Offset}
		want, ok := stored[p]
		switch {
		case c.Topic != topic || !ok:
			t.Errorf("kafkajs consumed an unexpected message %s %d/%d", c.Topic, c.Partition, c.Offset)
		case seen[p]:
			t.Errorf("kafkajs consumed %d/%d twice", c.Partition, c.Offset)
		case c.Key == nil || c.Value == nil || *c.Key != want[0] || *c.Value != want[1]:
			t.Errorf("kafkajs consumed %d/%d as %v=%v, want %q=%q", c.Partition, c.Offset, c.Key, c.Value, want[0], want[1])
		}
		seen[p] = true
	}
	if len(seen) != n {
		t.Errorf("kafkajs consumed %d distinct messages, want %d", len(seen), n)
	}

	// What it committed is the end of every partition, read back by franz-go and by kafkajs.
	committed := committedOffsets(t, b.Addr(), group, topic)
	for p, end := range ends {
		if committed[p] != end {
			t.Errorf("group %s committed %v (kafkajs sent %+v), want the end offsets %v", group, committed, res.Committed, ends)
			break
		}
	}
	if len(res.FetchedOffsets) != 1 || res.FetchedOffsets[0].Topic != topic || len(res.FetchedOffsets[0].Partitions) != len(ends) {
		t.Errorf("kafkajs fetchOffsets = %+v, want %d partitions of %s", res.FetchedOffsets, len(ends), topic)
	} else {
		for _, p := range res.FetchedOffsets[0].Partitions {
			if p.Offset != ends[p.Partition] {
				t.Errorf("kafkajs fetchOffsets partition %d at %d, want %d", p.Partition, p.Offset, ends[p.Partition])
			}
		}
	}
}
