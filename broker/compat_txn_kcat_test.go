package broker

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests run librdkafka's transactional producer and read_committed consumer, through
// kcat, against the broker. kcat -P with -X transactional.id sends all of its input in one
// transaction, committed at the end of the input and aborted when kcat is interrupted.

// kcatTxnLines returns n "key:value" lines of a kcat transaction named prefix, padded so
// that kcat 1.7, which reads stdin in 1 KiB blocks, sends them before its input ends.
func kcatTxnLines(prefix string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s-k%03d:%s-v%03d %s", prefix, i, prefix, i, strings.Repeat("x", 40))
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
	stdin  io.WriteCloser
	stderr *syncBuffer
	done   chan struct{} // closed once kcat has exited
	err    error         // cmd.Wait's result, valid after done
}

// startKcatOpenTxn starts a kcat transaction under txnID, writes lines to it and waits
// until the topic's high watermarks have grown by len(lines), so the records are in the
// log and the transaction is open.
func startKcatOpenTxn(t *testing.T, addr, topic, txnID string, lines []string) *kcatOpenTxn {
	t.Helper()
	before := sumOffsets(endOffsets(t, addr, topic))
	out := &syncBuffer{addr: make(chan string, 1)}
	cmd := exec.Command(kcatPath(t), "-P", "-b", addr, "-t", topic, "-K", ":",
		"-X", "transactional.id="+txnID, "-X", "linger.ms=5")
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
		cmd.Process.Kill()
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

// signal sends sig to kcat and waits up to 20s for it to exit.
func (k *kcatOpenTxn) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := k.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal kcat: %v", err)
	}
	select {
	case <-k.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("kcat did not exit within 20s of %v\n%s", sig, kcatTail(k.stderr.String(), 4000))
	}
}

func sumOffsets(offsets map[int32]int64) int64 {
	var n int64
	for _, o := range offsets {
		n += o
	}
	return n
}

// kcatConsumeTxn reads topic from the start to its end with kcat, under read_committed or
// read_uncommitted, and returns the "key:value" lines it printed, in partition and
// offset order.
func kcatConsumeTxn(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	out, _ := runKcat(t, 20*time.Second, nil, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-J",
		"-X", "isolation.level="+iso)
	msgs := parseKcatMessages(t, out)
	slices.SortFunc(msgs, func(a, b kcatMessage) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
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
		hw, err2 := adm.ListEndOffsets(ctx, topic)
		if err == nil && err2 == nil {
			err = hw.Error()
		} else if err == nil {
			err = err2
		}
		if err != nil {
			t.Fatalf("list offsets of %s: %v", topic, err)
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

// checkKcatTxnStored checks that franz-go reads the topic under read_committed as exactly
// want, and that every stored record was written transactionally.
func checkKcatTxnStored(t *testing.T, addr, topic string, want []string) {
	t.Helper()
	for _, r := range consumeToEnd(t, addr, topic, 10*time.Second) {
		if !r.Attrs.IsTransactional() || r.ProducerID < 0 {
			t.Fatalf("record %d/%d stored outside a transaction (producer %d)", r.Partition, r.Offset, r.ProducerID)
		}
	}
	cl := addrClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var got []string
	for ctx.Err() == nil && len(got) < len(want) {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)+":"+string(r.Value)) })
	}
	if !sameLines(got, want) {
		t.Errorf("franz-go read_committed read %d records, want the %d committed ones", len(got), len(want))
	}
}

// TestKcatTransactions produces with librdkafka's transactional producer, committing,
// aborting on interrupt and dying mid-transaction, and reads the topics back with
// librdkafka's read_committed and read_uncommitted consumers.
func TestKcatTransactions(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{})
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
		checkKcatTxnStored(t, addr, topic, lines)
	})

	// An interrupted kcat aborts its transaction: its records stay in the log, between
	// two committed transactions, and only read_uncommitted sees them.
	t.Run("abort on interrupt", func(t *testing.T) {
		const topic = "kcat-txn-abort"
		createTopic(t, b, topic, 3, nil)
		first, aborted, last := kcatTxnLines("first", 50), kcatTxnLines("aborted", 200), kcatTxnLines("last", 50)
		kcatProduceTxn(t, addr, topic, "kcat-abort", first)
		open := startKcatOpenTxn(t, addr, topic, "kcat-abort", aborted)

		// While it is open, read_committed ends before it.
		if got := kcatConsumeTxn(t, addr, topic, true); !sameLines(got, first) {
			t.Errorf("read_committed with a transaction open read %d messages, want the %d committed before it", len(got), len(first))
		}
		open.signal(t, os.Interrupt)
		if !strings.Contains(open.stderr.String(), "abort") {
			t.Logf("kcat said nothing about aborting:\n%s", kcatTail(open.stderr.String(), 2000))
		}
		waitStable(t, addr, topic)
		kcatProduceTxn(t, addr, topic, "kcat-abort", last)

		committed := slices.Concat(first, last)
		got := kcatConsumeTxn(t, addr, topic, true)
		if !sameLines(got, committed) {
			t.Errorf("read_committed read %d messages, want the %d committed ones: %q", len(got), len(committed), got)
		}
		if all := slices.Concat(first, aborted, last); !sameLines(kcatConsumeTxn(t, addr, topic, false), all) {
			t.Errorf("read_uncommitted did not read the %d produced messages", len(all))
		}
		checkKcatTxnStored(t, addr, topic, committed)
	})

	// A kcat killed mid-transaction leaves it open, holding read_committed readers back,
	// until the next producer with its transactional ID fences it: the coordinator aborts
	// it then.
	t.Run("killed then fenced", func(t *testing.T) {
		const topic = "kcat-txn-killed"
		createTopic(t, b, topic, 2, nil)
		killed, after := kcatTxnLines("killed", 100), kcatTxnLines("after", 60)
		open := startKcatOpenTxn(t, addr, topic, "kcat-killed", killed)
		open.signal(t, syscall.SIGKILL)
		if got := kcatConsumeTxn(t, addr, topic, true); len(got) != 0 {
			t.Errorf("read_committed read %d messages of a dead producer's open transaction", len(got))
		}
		kcatProduceTxn(t, addr, topic, "kcat-killed", after)
		waitStable(t, addr, topic)
		if got := kcatConsumeTxn(t, addr, topic, true); !sameLines(got, after) {
			t.Errorf("read_committed read %d messages, want only the %d of the committed transaction: %q", len(got), len(after), got)
		}
		if all := slices.Concat(killed, after); !sameLines(kcatConsumeTxn(t, addr, topic, false), all) {
			t.Errorf("read_uncommitted did not read the %d produced messages", len(all))
		}
		checkKcatTxnStored(t, addr, topic, after)
	})
}
