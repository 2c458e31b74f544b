package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kafkajsTxnResult is what testdata/kafkajs/txn.js prints.
type kafkajsTxnResult struct {
	Transactions []struct {
		Name      string   `json:"name"`
		Committed bool     `json:"committed"`
		Values    []string `json:"values"`
	} `json:"transactions"`
	Consumed []struct {
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset,string"`
		Value     *string `json:"value"`
	} `json:"consumed"`
}

// TestKafkajsTransactions runs kafkajs's transactional producer (commits and aborts, with
// and without offsets for a group) and its read_committed group consumer against the
// broker, and checks what the consumer read, the stored log and the group's offsets.
func TestKafkajsTransactions(t *testing.T) {
	node := kafkajsNode(t)
	b := startBroker(t, Config{})
	const (
		topic = "kafkajs-txn"
		in    = "kafkajs-txn-in"
		group = "kafkajs-txn-group"
		n     = 30
	)
	createTopic(t, b, topic, 3, nil)
	createTopic(t, b, in, 2, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(kafkajsDir, "txn.js"), b.Addr(), topic, in, group, fmt.Sprint(n))
	cmd.WaitDelay = 5 * time.Second
	var out, logs bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &logs
	if err := cmd.Run(); err != nil {
		t.Fatalf("node txn.js: %v (context: %v)\nkafkajs stderr:\n%s", err, ctx.Err(), kcatTail(logs.String(), 8000))
	}
	defer func() {
		if t.Failed() {
			t.Logf("kafkajs stderr:\n%s", kcatTail(logs.String(), 8000))
		}
	}()
	var res kafkajsTxnResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("txn.js output %q: %v", kcatTail(out.String(), 2000), err)
	}

	var committed, all []string
	for _, tx := range res.Transactions {
		if len(tx.Values) != n {
			t.Errorf("transaction %s has %d values, want %d", tx.Name, len(tx.Values), n)
		}
		all = append(all, tx.Values...)
		if tx.Committed {
			committed = append(committed, tx.Values...)
		}
	}
	if len(res.Transactions) != 4 || len(committed) != 2*n {
		t.Fatalf("txn.js reports %d transactions, %d committed values; want 4 and %d", len(res.Transactions), len(committed), 2*n)
	}

	// The stored log, read uncommitted by franz-go: every transaction's records, each
	// written transactionally, then the sentinels.
	stored := map[recordPos]string{}
	var storedValues []string
	for _, r := range consumeToEnd(t, b.Addr(), topic, 10*time.Second) {
		v := string(r.Value)
		if strings.HasPrefix(v, "sentinel-") {
			continue
		}
		if !r.Attrs.IsTransactional() || r.ProducerID < 0 {
			t.Errorf("record %q at %d/%d stored outside a transaction", v, r.Partition, r.Offset)
		}
		stored[recordPos{r.Partition, r.Offset}] = v
		storedValues = append(storedValues, v)
	}
	if !sameLines(storedValues, all) {
		t.Errorf("stored %d records, want the %d kafkajs produced", len(storedValues), len(all))
	}

	// kafkajs's read_committed consumer read exactly the committed records, once each,
	// where they are stored.
	var read []string
	seen := map[recordPos]bool{}
	for _, c := range res.Consumed {
		pos := recordPos{c.Partition, c.Offset}
		switch {
		case c.Value == nil || stored[pos] != *c.Value:
			t.Errorf("kafkajs read %v at %d/%d, stored there: %q", c.Value, c.Partition, c.Offset, stored[pos])
		case seen[pos]:
			t.Errorf("kafkajs read %d/%d twice", c.Partition, c.Offset)
		default:
			read = append(read, *c.Value)
		}
		seen[pos] = true
	}
	if !sameLines(read, committed) {
		slices.Sort(read)
		t.Errorf("kafkajs read_committed read %d records, want the %d committed: %q", len(read), len(committed), read)
	}

	if got := committedOffsets(t, b.Addr(), group, in); len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Errorf("group %s offsets %v, want the committed transaction's {0:5 1:7}", group, got)
	}
}
