package broker

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests run librdkafka's transactional producer and read_committed consumer, through
// kcat, against the broker. kcat -P with -X transactional.id sends all of its input in one
// transaction, committed at the end of the input.

// kcatTxnLines returns n "key:value" lines of a kcat transaction named prefix, each 64
// bytes with its newline: kcat 1.7 reads stdin in 4 KiB blocks and holds a block's last
// partial line back until more input comes, so an open transaction is sent whole only
// when n is a multiple of 64.
func kcatTxnLines(prefix string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		l := fmt.Sprintf("%s-k%03d:%s-v%03d ", prefix, i, prefix, i)
		lines[i] = l + strings.Repeat("x", 63-len(l))
	}
	return lines
}

// kcatProduceTxn sends lines in one kcat transaction under txnID and returns once kcat
// has committed it and exited.
func kcatProduceTxn(t *testing.T, addr, topic, txnID string, lines []string) {
	t.Helper()
	in := strings.Join(lines, "\n") + "\n"
	runKcat(t, 30*time.Second, []byte(in), "-P", "-b", addr, "-t", topic, "-K", ":",
		"-X", "transactional.id="+txnID, "-X", "linger.ms=5")
}

// kcatOpenTxn is a kcat producer in the middle of a transaction: its input is still open.
type kcatOpenTxn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // held open: at the end of its input kcat would commit
	stderr *syncBuffer    // syncBuffer for its locking; kcat never prints an address
	done   chan struct{}  // closed once kcat has exited
	err    error          // cmd.Wait's result, valid after done
}

// startKcatOpenTxn starts a kcat transaction under txnID, writes lines to it and waits
// until the topic's high watermarks have grown by len(lines), so the records are in the
// log and the transaction is open.
func startKcatOpenTxn(t *testing.T, addr, topic, txnID string, lines []string, extra ...string) *kcatOpenTxn {
	t.Helper()
	before := sumOffsets(endOffsets(t, addr, topic))
	out := &syncBuffer{addr: make(chan string, 1)}
	args := []string{"-P", "-b", addr, "-t", topic, "-K", ":", "-X", "transactional.id=" + txnID, "-X", "linger.ms=5"}
	cmd := exec.Command(kcatPath(t), append(args, extra...)...)
	cmd.Stderr = out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("kcat stdin: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kcat: %v", err)
	}
	k := &kcatOpenTxn{cmd: cmd, stdin: stdin, stderr: out, done: make(chan struct{})}
	go func() {
		k.err = cmd.Wait()
		close(k.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // an error only says it has already exited
		<-k.done
	})
	if _, err := io.WriteString(stdin, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatalf("write to kcat: %v\n%s", err, out.String())
	}
	want := before + int64(len(lines))
	deadline := time.Now().Add(20 * time.Second)
	for sumOffsets(endOffsets(t, addr, topic)) < want {
		select {
		case <-k.done:
			t.Fatalf("kcat exited before its records were stored: %v\n%s", k.err, kcatTail(out.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kcat's %d records not stored within 20s\n%s", len(lines), kcatTail(out.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return k
}

// kill SIGKILLs kcat, leaving its transaction open, and waits for it to be gone.
func (k *kcatOpenTxn) kill(t *testing.T) {
	t.Helper()
	if err := k.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill kcat: %v", err)
	}
	<-k.done
}

// sumOffsets adds up the offsets of every partition.
func sumOffsets(offsets map[int32]int64) int64 {
	var n int64
	for _, o := range offsets {
		n += o
	}
	return n
}

// kcatConsumeTxn reads topic from the start to its end with kcat, under read_committed or
// read_uncommitted, and returns the "key:value" lines it printed.
func kcatConsumeTxn(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	out, _ := runKcat(t, 20*time.Second, nil, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-J",
		"-X", "isolation.level="+iso)
	msgs := parseKcatMessages(t, out)
	lines := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if m.Key == nil || m.Payload == nil {
			t.Fatalf("kcat read %d/%d without a key or value", m.Partition, m.Offset)
		}
		lines = append(lines, *m.Key+":"+*m.Payload)
	}
	return lines
}

// waitStable waits until every partition's last stable offset is its high watermark: no
// transaction is open in topic.
func waitStable(t *testing.T, addr, topic string) {
	t.Helper()
	adm := kadm.NewClient(addrClient(t, addr))
	ctx := testCtx(t, 15*time.Second)
	for {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = lso.Error()
		}
		if err != nil {
			t.Fatalf("list read_committed offsets of %s: %v", topic, err)
		}
		hw, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = hw.Error()
		}
		if err != nil {
			t.Fatalf("list end offsets of %s: %v", topic, err)
		}
		stable := true
		hw.Each(func(o kadm.ListedOffset) {
			if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset {
				stable = false
			}
		})
		if stable {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: last stable offsets %v never reached the high watermarks %v", topic, lso, hw)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sameLines reports whether got and want hold the same lines, ignoring order.
func sameLines(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// checkKcatTxnStored checks with franz-go that the topic holds exactly the records all,
// each written in a transaction, and reads under read_committed as exactly committed.
func checkKcatTxnStored(t *testing.T, addr, topic string, all, committed []string) {
	t.Helper()
	for _, iso := range []kgo.IsolationLevel{kgo.ReadUncommitted(), kgo.ReadCommitted()} {
		want := all
		if iso == kgo.ReadCommitted() {
			want = committed
		}
		cl := addrClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(100*time.Millisecond))
		// The count is known, so a short bound only matters when a record is missing.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var got []string
		for ctx.Err() == nil && len(got) < len(want) {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				if !r.Attrs.IsTransactional() || r.ProducerID < 0 {
					t.Errorf("record %d/%d stored outside a transaction (producer %d)", r.Partition, r.Offset, r.ProducerID)
				}
				got = append(got, string(r.Key)+":"+string(r.Value))
			})
		}
		cancel()
		if !sameLines(got, want) {
			t.Errorf("franz-go (isolation %v) read %d records, want %d", iso, len(got), len(want))
		}
	}
}

// TestKcatTransactions produces with librdkafka's transactional producer, committing and
// dying mid-transaction (then timed out, or fenced by its successor), and reads the
// topics back with librdkafka's read_committed and read_uncommitted consumers.
func TestKcatTransactions(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{TransactionAbortInterval: 100 * time.Millisecond})
	addr := b.Addr()

	t.Run("commit", func(t *testing.T) {
		const topic = "kcat-txn-commit"
		createTopic(t, b, topic, 3, nil)
		lines := kcatTxnLines("c", 200)
		kcatProduceTxn(t, addr, topic, "kcat-commit", lines)
		waitStable(t, addr, topic)
		if got := kcatConsumeTxn(t, addr, topic, true); !sameLines(got, lines) {
			t.Errorf("read_committed read %d messages, want the %d committed ones: %q", len(got), len(lines), got)
		}
		if got := kcatConsumeTxn(t, addr, topic, false); !sameLines(got, lines) {
			t.Errorf("read_uncommitted read %d messages, want the %d committed ones", len(got), len(lines))
		}
		checkKcatTxnStored(t, addr, topic, lines, lines)
	})

	// A kcat killed mid-transaction with a short transaction timeout: the coordinator
	// aborts the transaction when it times out. Its records stay in the log, between two
	// committed transactions, and only read_uncommitted sees them. (kcat's own abort on
	// Ctrl-C is no use here: kcat 1.7 exits on a signal while it waits for input without
	// aborting.)
	t.Run("timed out", func(t *testing.T) {
		const topic = "kcat-txn-timeout"
		createTopic(t, b, topic, 3, nil)
		first, aborted, last := kcatTxnLines("first", 50), kcatTxnLines("aborted", 192), kcatTxnLines("last", 50)
		kcatProduceTxn(t, addr, topic, "kcat-around", first)
		open := startKcatOpenTxn(t, addr, topic, "kcat-timeout", aborted,
			"-X", "transaction.timeout.ms=2000", "-X", "message.timeout.ms=2000")
		open.kill(t)
		waitStable(t, addr, topic)
		kcatProduceTxn(t, addr, topic, "kcat-around", last)

		committed := slices.Concat(first, last)
		got := kcatConsumeTxn(t, addr, topic, true)
		if !sameLines(got, committed) {
			t.Errorf("read_committed read %d messages, want the %d committed ones: %q", len(got), len(committed), got)
		}
		all := slices.Concat(first, aborted, last)
		if !sameLines(kcatConsumeTxn(t, addr, topic, false), all) {
			t.Errorf("read_uncommitted did not read the %d produced messages", len(all))
		}
		checkKcatTxnStored(t, addr, topic, all, committed)
	})

	// A kcat killed mid-transaction leaves it open, holding read_committed readers back,
	// until the next producer with its transactional ID fences it: the coordinator aborts
	// it then.
	t.Run("killed then fenced", func(t *testing.T) {
		const topic = "kcat-txn-killed"
		createTopic(t, b, topic, 2, nil)
		killed, after := kcatTxnLines("killed", 128), kcatTxnLines("after", 60)
		open := startKcatOpenTxn(t, addr, topic, "kcat-killed", killed)
		open.kill(t)
		if got := kcatConsumeTxn(t, addr, topic, true); len(got) != 0 {
			t.Errorf("read_committed read %d messages of a dead producer's open transaction", len(got))
		}
		kcatProduceTxn(t, addr, topic, "kcat-killed", after)
		waitStable(t, addr, topic)
		if got := kcatConsumeTxn(t, addr, topic, true); !sameLines(got, after) {
			t.Errorf("read_committed read %d messages, want only the %d of the committed transaction: %q", len(got), len(after), got)
		}
		all := slices.Concat(killed, after)
		if !sameLines(kcatConsumeTxn(t, addr, topic, false), all) {
			t.Errorf("read_uncommitted did not read the %d produced messages", len(all))
		}
		checkKcatTxnStored(t, addr, topic, all, after)
	})
}
