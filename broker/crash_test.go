package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// childBroker is a broker running in a child process (see TestMain), so that it can be
// killed without warning.
type childBroker struct {
	addr   string
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{} // closed once the process has exited and cmd.Wait returned
	err    error         // cmd.Wait's result, valid after done
	stdin  io.WriteCloser
}

// syncBuffer collects a child's output, which exec copies from another goroutine, and
// sends the address the child reports on addr.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	found bool
	addr  chan string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.found {
		if _, rest, ok := bytes.Cut(s.buf.Bytes(), []byte(childAddrPrefix)); ok {
			if line, _, ok := bytes.Cut(rest, []byte("\n")); ok {
				s.found = true
				s.addr <- string(line)
			}
		}
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// startChildBroker runs a broker on dir in a child process and waits for its address.
// The child is killed when the test ends if it is still running.
func startChildBroker(t *testing.T, dir string) *childBroker {
	t.Helper()
	out := &syncBuffer{addr: make(chan string, 1)}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stdout = out
	cmd.Stderr = out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("child stdin: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child broker: %v", err)
	}
	c := &childBroker{cmd: cmd, output: out, done: make(chan struct{}), stdin: stdin}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.kill(t)
		if t.Failed() {
			t.Logf("child broker output:\n%s", out.String())
		}
	})
	select {
	case c.addr = <-out.addr:
	case <-c.done:
		t.Fatalf("child broker exited before listening: %v\n%s", c.err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("child broker did not report its address within 30s\n%s", out.String())
	}
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *childBroker) kill(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
		return
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill child broker: %v", err)
	}
	<-c.done
}

// stop asks the child to close cleanly and checks that it did.
func (c *childBroker) stop(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Errorf("child broker did not stop within 20s")
		c.kill(t)
		return
	}
	if c.err != nil {
		t.Errorf("child broker exited with %v\n%s", c.err, c.output.String())
	}
}

// createTopicAt creates topic with n partitions on the broker at addr.
func createTopicAt(t *testing.T, addr, topic string, n int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(addrClient(t, addr)).CreateTopic(ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

type recordPos struct {
	partition int32
	offset    int64
}

// TestCrashKillKeepsAcknowledgedRecords kills a broker that is taking acks=all writes from
// several idempotent producers, restarts it on the same directory, and does that again a
// few times; then every acknowledged record must be there, at the offset it was
// acknowledged with, exactly once. A kill loses what the process held, not the page
// cache, so this checks that nothing is acknowledged before it is written and that
// recovery keeps what was; TestCrashGarbageTailIsTruncated covers torn writes.
func TestCrashKillKeepsAcknowledgedRecords(t *testing.T) {
	const (
		topic  = "crash"
		rounds = 3
	)
	dir := t.TempDir()
	child := startChildBroker(t, dir)
	createTopicAt(t, child.addr, topic, 3)
	want := map[string]recordPos{}
	for round := range rounds {
		if round > 0 {
			child = startChildBroker(t, dir)
		}
		acked, unacked := produceUntilKilled(t, child, topic, round)
		t.Logf("round %d: %d records acknowledged before the kill, %d not", round, len(acked), unacked)
		maps.Copy(want, acked)
	}

	child = startChildBroker(t, dir)
	recs := consumeToEnd(t, child.addr, topic, 20*time.Second)
	got := make(map[string]recordPos, len(recs))
	for _, r := range recs {
		if prev, dup := got[string(r.Value)]; dup {
			t.Errorf("record %s stored twice: at %v and %d/%d", r.Value, prev, r.Partition, r.Offset)
		}
		got[string(r.Value)] = recordPos{r.Partition, r.Offset}
	}
	missing := 0
	for v, pos := range want {
		g, ok := got[v]
		switch {
		case !ok:
			if missing++; missing <= 10 {
				t.Errorf("acknowledged record %s (partition %d offset %d) is lost", v, pos.partition, pos.offset)
			}
		case g != pos:
			t.Errorf("acknowledged record %s at partition %d offset %d, found at %d/%d", v, pos.partition, pos.offset, g.partition, g.offset)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records lost", missing, len(want))
	}
	t.Logf("%d records acknowledged in all, %d stored", len(want), len(got))

	// The restarted broker takes new writes after the recovered ones.
	ends := endOffsets(t, child.addr, topic)
	cl := addrClient(t, child.addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := cl.ProduceSync(testCtx(t, 10*time.Second), &kgo.Record{Partition: 0, Value: []byte("after-restart")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if r, _ := res.First(); r.Offset != ends[0] {
		t.Errorf("produce after restart got offset %d, want %d", r.Offset, ends[0])
	}
	child.stop(t)
}

// produceUntilKilled writes to topic from several idempotent acks=all producers, each
// with its own connection, SIGKILLs the child once enough records are acknowledged, and
// returns where each acknowledged record went and how many records were not
// acknowledged.
func produceUntilKilled(t *testing.T, child *childBroker, topic string, round int) (map[string]recordPos, int) {
	t.Helper()
	const (
		producers   = 4
		perProducer = 50000 // bounds the load if the kill comes late
		killAfter   = 400   // acknowledged records before the kill
	)
	// Callbacks may still run after the clients are closed, so they touch only these,
	// under mu; the results are copies.
	var (
		mu      sync.Mutex
		acked   = map[string]recordPos{}
		unacked int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	clients := make([]*kgo.Client, producers)
	for g := range producers {
		clients[g] = addrClient(t, child.addr,
			kgo.DefaultProduceTopic(topic),
			kgo.MaxBufferedRecords(500),
			kgo.RecordDeliveryTimeout(5*time.Second),
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer && ctx.Err() == nil; i++ {
				v := fmt.Sprintf("r%d-p%d-%06d", round, g, i)
				clients[g].Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						unacked++
						return
					}
					acked[string(r.Value)] = recordPos{r.Partition, r.Offset}
				})
			}
		}()
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	deadline := time.Now().Add(20 * time.Second)
	for ackedCount() < killAfter {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records acknowledged in 20s\n%s", ackedCount(), child.output.String())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // land the kill at a random point of the load
	child.kill(t)
	var exit *exec.ExitError
	if !errors.As(child.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child broker was not killed by SIGKILL: %v", child.err)
	}
	cancel()
	wg.Wait()
	for _, cl := range clients {
		cl.Close() // fails what is still buffered
	}
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(acked), unacked
}

// TestCrashGarbageTailIsTruncated appends junk to the active segment of a stopped broker,
// as a torn write or a disk error would leave it, and checks that the broker starts, keeps
// every earlier record and appends new ones right after them.
func TestCrashGarbageTailIsTruncated(t *testing.T) {
	const (
		topic  = "junk"
		before = 50 // records written before the junk
	)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	valid := encodeTestBatch(before, "never-acknowledged")
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-1] ^= 0xff // the CRC covers the records, so this breaks it
	hugeLength := bytes.Clone(valid[:21])
	hugeLength[8], hugeLength[9], hugeLength[10], hugeLength[11] = 0x7f, 0xff, 0xff, 0xff

	cases := []struct {
		name string
		junk []byte
	}{
		{"random bytes", random},
		{"zeros", make([]byte, 4096)},
		{"short header", valid[:7]},
		{"torn batch", valid[:len(valid)/2]},
		{"bad crc", badCRC},
		{"huge length", hugeLength},
	}
	// The junk lands on a log closed cleanly and on one whose broker was killed, so
	// recovery may not lean on a clean-shutdown state.
	stops := []struct {
		name  string
		start func(t *testing.T, dir string) (addr string, stop func())
	}{
		{"closed", func(t *testing.T, dir string) (string, func()) {
			b := startBroker(t, Config{DataDir: dir})
			return b.Addr(), func() {
				if err := b.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			}
		}},
		{"killed", func(t *testing.T, dir string) (string, func()) {
			c := startChildBroker(t, dir)
			return c.addr, func() { c.kill(t) }
		}},
	}
	for _, stop := range stops {
		for _, tc := range cases {
			t.Run(stop.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				addr, stopBroker := stop.start(t, dir)
				createTopicAt(t, addr, topic, 1)
				cl := addrClient(t, addr, kgo.DefaultProduceTopic(topic))
				for batch := range 5 {
					var recs []*kgo.Record
					for i := range before / 5 {
						recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "v%03d", batch*before/5+i)})
					}
					if err := cl.ProduceSync(testCtx(t, 10*time.Second), recs...).FirstErr(); err != nil {
						t.Fatalf("produce: %v", err)
					}
				}
				cl.Close()
				stopBroker()
				appendToActiveSegment(t, filepath.Join(dir, "logs", topic+"-0"), tc.junk)
				checkRecoveredTail(t, dir, topic, before)
			})
		}
	}
}

// checkRecoveredTail starts a broker on dir and checks that topic holds exactly the
// records v000... of its first n offsets and takes a new record at offset n.
func checkRecoveredTail(t *testing.T, dir, topic string, n int) {
	t.Helper()
	b := startBroker(t, Config{DataDir: dir})
	if ends := endOffsets(t, b.Addr(), topic); ends[0] != int64(n) {
		t.Fatalf("end offset after restart = %d, want %d", ends[0], n)
	}
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic))
	res := cl.ProduceSync(testCtx(t, 10*time.Second), &kgo.Record{Value: []byte("after")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if r, _ := res.First(); r.Offset != int64(n) {
		t.Errorf("produce after restart got offset %d, want %d", r.Offset, n)
	}
	recs := consumeToEnd(t, b.Addr(), topic, 10*time.Second)
	if len(recs) != n+1 {
		t.Fatalf("read %d records, want %d", len(recs), n+1)
	}
	for i, r := range recs {
		want := fmt.Sprintf("v%03d", i)
		if i == n {
			want = "after"
		}
		if r.Offset != int64(i) || string(r.Value) != want {
			t.Errorf("record %d: offset %d value %q, want offset %d value %q", i, r.Offset, r.Value, i, want)
		}
	}
}

// encodeTestBatch encodes a valid v2 record batch of one record at offset base.
func encodeTestBatch(base int64, value string) []byte {
	rec := kmsg.Record{Value: []byte(value)}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // Length 0 took one varint byte
	now := time.Now().UnixMilli()
	batch := kmsg.RecordBatch{
		FirstOffset:    base,
		Magic:          2,
		FirstTimestamp: now,
		MaxTimestamp:   now,
		ProducerID:     -1,
		ProducerEpoch:  -1,
		FirstSequence:  -1,
		NumRecords:     1,
		Records:        rec.AppendTo(nil),
	}
	raw := batch.AppendTo(nil)
	batch.Length = int32(len(raw) - 12) // everything after the offset and length fields
	batch.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return batch.AppendTo(nil)
}

// appendToActiveSegment writes junk at the end of the newest .log segment in dir.
func appendToActiveSegment(t *testing.T, dir string, junk []byte) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) == 0 {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("no .log segment in %s (%v): %v", dir, err, entries)
	}
	slices.SortFunc(segs, func(a, b string) int {
		// Segment names are zero-padded base offsets, but compare by length first in case
		// they are not.
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("open segment: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(junk); err != nil {
		t.Fatalf("append junk: %v", err)
	}
}
