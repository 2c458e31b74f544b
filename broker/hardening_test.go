package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawFormatter frames the requests of the raw connections below: the tests need sockets a
// client library would not leave alone (one never read, a thousand kept idle).
var rawFormatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("hardening-test"))

// dialRaw opens a TCP connection to b, closed when the test ends.
func dialRaw(t testing.TB, b *Broker) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// apiVersionsRequest is the first request every client sends.
func apiVersionsRequest() *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "hardening-test"
	req.ClientSoftwareVersion = "1"
	return req
}

// readFrame reads one response frame and returns its correlation ID and the rest.
func readFrame(nc net.Conn) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		return 0, nil, err
	}
	if len(body) < 4 {
		return 0, nil, errors.New("response shorter than its header")
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// handshake sends ApiVersions on nc and checks the answer.
func handshake(nc net.Conn, corr int32) error {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(rawFormatter.AppendRequest(nil, apiVersionsRequest(), corr)); err != nil {
		return err
	}
	got, body, err := readFrame(nc)
	if err != nil {
		return err
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body); err != nil {
		return err
	}
	if got != corr || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		return errors.New("bad ApiVersions answer")
	}
	return nil
}

// expectClosed waits up to d for the broker to close nc, reading and dropping anything
// it still sends.
func expectClosed(t *testing.T, nc net.Conn, d time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
}

// roundTrip produces n records to topic with a fresh client and consumes them back,
// returning how long that took; it fails the test past d.
func roundTrip(t *testing.T, b *Broker, topic string, n int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx := testCtx(t, d)
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte("round-trip")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s in %v", got, n, topic, d)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume %s: %v", topic, err) })
		got += fs.NumRecords()
	}
	return time.Since(start)
}

// recordingHandler keeps the messages of the log records it receives.
type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (h *recordingHandler) count(substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func TestMaxConnections(t *testing.T) {
	const limit = 3
	logs := &recordingHandler{}
	b := startBroker(t, Config{MaxConnections: limit, Logger: slog.New(logs)})
	var open []net.Conn
	for i := range limit {
		nc := dialRaw(t, b)
		if err := handshake(nc, int32(i)); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, limit, err)
		}
		open = append(open, nc)
	}

	// Over the limit: closed at once, whatever the client sends.
	for range 5 {
		nc := dialRaw(t, b)
		nc.Write(rawFormatter.AppendRequest(nil, apiVersionsRequest(), 99))
		expectClosed(t, nc, 2*time.Second)
	}
	if n := logs.count("DEBUG connection limit reached"); n != 1 {
		t.Errorf("%d debug lines for 5 refused connections, want 1 (the first; later ones are counted)", n)
	}
	for i, nc := range open {
		if err := handshake(nc, 100+int32(i)); err != nil {
			t.Fatalf("connection %d within the limit broken by refusals: %v", i+1, err)
		}
	}

	// A closed connection frees its slot, once the broker has noticed.
	open[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		nc := dialRaw(t, b)
		err := handshake(nc, 7)
		if err == nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("slot of a closed connection not reused: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInFlightBound(t *testing.T) {
	const inFlight = 4
	b := startBroker(t, Config{MaxInFlightPerConn: inFlight})
	// A pipe has no buffers: a request write returns only once the broker has read the
	// whole frame, so the writes that complete count the requests the broker took in.
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	c := newConn(context.Background(), b, server)
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve()
	}()

	const total = 50
	var written atomic.Int32
	writeErr := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := client.Write(rawFormatter.AppendRequest(nil, apiVersionsRequest(), int32(i))); err != nil {
				writeErr <- err
				return
			}
			written.Add(1)
		}
		writeErr <- nil
	}()

	// Nobody reads responses: the broker must stop reading once inFlight requests are
	// unanswered.
	last, stableSince := int32(-1), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Since(stableSince) < 300*time.Millisecond; {
		if n := written.Load(); n != last {
			last, stableSince = n, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker kept reading: %d requests taken in", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if last != inFlight {
		t.Fatalf("broker read %d requests ahead of their responses, want MaxInFlightPerConn %d", last, inFlight)
	}

	// Reading the responses lets the rest through, in order.
	for i := range total {
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		corr, _, err := readFrame(client)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if corr != int32(i) {
			t.Fatalf("response %d has correlation ID %d", i, corr)
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write requests: %v", err)
	}
	client.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatalf("connection not done 5s after the client closed")
	}
}

func TestStalledPeerDropped(t *testing.T) {
	b := startBroker(t, Config{})
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	c := newConn(context.Background(), b, server)
	c.stall = 100 * time.Millisecond
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve()
	}()
	start := time.Now()
	if _, err := client.Write(rawFormatter.AppendRequest(nil, apiVersionsRequest(), 1)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	// The answer is never read, and the client sends nothing more.
	select {
	case <-served:
		t.Logf("connection closed %v after its peer stopped reading", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatalf("connection still served 5s after its peer stopped reading (stall timeout %v)", c.stall)
	}
	if _, err := client.Write([]byte{0}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("client write after the stall: %v, want the connection closed", err)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	b := startBroker(t, Config{ConnectionsMaxIdle: idle})
	quiet, busy := dialRaw(t, b), dialRaw(t, b)
	start := time.Now()
	for i := range 10 {
		// busy sends a request every third of the idle time; quiet only the first.
		if err := handshake(busy, int32(i)); err != nil {
			t.Fatalf("busy connection, request %d after %v: %v", i, time.Since(start), err)
		}
		if i == 0 {
			if err := handshake(quiet, 0); err != nil {
				t.Fatalf("quiet connection: %v", err)
			}
		}
		time.Sleep(idle / 3)
	}
	expectClosed(t, quiet, idle)
	if err := handshake(busy, 10); err != nil {
		t.Fatalf("busy connection closed as idle: %v", err)
	}
}

func TestRequestSizeBound(t *testing.T) {
	const maxBytes = 1 << 20
	b := startBroker(t, Config{MaxRequestBytes: maxBytes})
	for _, tc := range []struct {
		name string
		size uint32
	}{
		{"1GiB", 1 << 30},
		{"one over the limit", maxBytes + 1},
		{"negative", 0xFFFFFFFF},
		{"zero", 0},
		{"shorter than a header", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := totalAlloc()
			nc := dialRaw(t, b)
			if _, err := nc.Write(binary.BigEndian.AppendUint32(nil, tc.size)); err != nil {
				t.Fatalf("write size: %v", err)
			}
			expectClosed(t, nc, 2*time.Second)
			if grew := totalAlloc() - before; grew > 16<<20 {
				t.Fatalf("%d bytes allocated while refusing a %d-byte request", grew, tc.size)
			}
		})
	}

	// Within the limit, memory follows the bytes that arrive, not the size announced.
	const conns = 10
	before := totalAlloc()
	for range conns {
		nc := dialRaw(t, b)
		frame := rawFormatter.AppendRequest(nil, apiVersionsRequest(), 1)
		binary.BigEndian.PutUint32(frame, maxBytes)
		if _, err := nc.Write(frame); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the broker read what was sent
	if grew := totalAlloc() - before; grew > conns*maxBytes/4 {
		t.Fatalf("%d connections that each announced %d bytes and sent 50 made the broker allocate %d bytes", conns, maxBytes, grew)
	}

	if err := handshake(dialRaw(t, b), 1); err != nil {
		t.Fatalf("request within the limit: %v", err)
	}
}

// totalAlloc returns the bytes the process has allocated so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// stuckReader fills topic with about 1 MiB and opens a connection that asks for it many
// times over without ever reading an answer: far more than socket buffers hold, so the
// broker's writes to it block.
func stuckReader(t *testing.T, b *Broker, topic string) net.Conn {
	t.Helper()
	createTopic(t, b, topic, 1, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	recs := make([]*kgo.Record, 64)
	for i := range recs {
		recs[i] = &kgo.Record{Value: make([]byte, 16<<10)}
	}
	if err := cl.ProduceSync(testCtx(t, 10*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	nc := dialRaw(t, b)
	var reqs []byte
	for i := range 128 {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = -1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// AppendRequest sizes everything in dst as one frame, so each starts empty.
		reqs = append(reqs, rawFormatter.AppendRequest(nil, req, int32(i))...)
	}
	go func() {
		// This blocks once the broker stops reading, until the test closes nc.
		nc.Write(reqs)
	}()
	return nc
}

// waitWriteBlocked waits until some connection's writer is blocked writing to its peer.
func waitWriteBlocked(t *testing.T) {
	t.Helper()
	stacks := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); ; {
		s := string(stacks[:runtime.Stack(stacks, true)])
		for _, g := range strings.Split(s, "\n\n") {
			if strings.Contains(g, "(*conn).write(") && strings.Contains(g, "waitWrite") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection writer blocked on its peer after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlowReaderDoesNotStallOthers(t *testing.T) {
	b := startBroker(t, Config{Fsync: "os"})
	stuckReader(t, b, "unread")
	waitWriteBlocked(t)
	createTopic(t, b, "others", 1, nil)
	took := roundTrip(t, b, "others", 100, 5*time.Second)
	t.Logf("another client produced and consumed 100 records in %v beside a stuck reader", took)
}

func TestCloseWithStuckReader(t *testing.T) {
	b := startBroker(t, Config{Fsync: "os"})
	stuckReader(t, b, "unread")
	waitWriteBlocked(t)
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
		t.Logf("Close returned in %v with a stuck reader", time.Since(start))
	case <-time.After(3 * time.Second):
		t.Fatalf("Close did not return within 3s with a connection that never reads")
	}
}

func TestThousandIdleConnections(t *testing.T) {
	const n = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 2*n+256 {
		t.Skipf("needs %d open files (both ends of every connection), limit is %d (%v)", 2*n+256, lim.Cur, err)
	}
	b := startBroker(t, Config{Fsync: "os"})
	createTopic(t, b, "busy", 1, nil)
	heap0, goroutines0 := settledUsage()

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
				if err == nil {
					conns[i] = nc
					err = handshake(nc, int32(i))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatalf("open idle connections: %v", err)
	}

	heap1, goroutines1 := settledUsage()
	perConnBytes := (int64(heap1) - int64(heap0)) / n
	perConnGoroutines := float64(goroutines1-goroutines0) / n
	t.Logf("%d idle connections: %d bytes and %.2f goroutines each (both ends, in this process)", n, perConnBytes, perConnGoroutines)
	if goroutines1-goroutines0 > 3*n+50 {
		t.Errorf("%d goroutines for %d idle connections", goroutines1-goroutines0, n)
	}
	if perConnBytes > 32<<10 {
		t.Errorf("%d bytes per idle connection, want at most 32 KiB", perConnBytes)
	}

	took := roundTrip(t, b, "busy", 100, 5*time.Second)
	t.Logf("a client produced and consumed 100 records in %v beside %d idle connections", took, n)
	for i := 0; i < n; i += 97 {
		if err := handshake(conns[i], int32(n+i)); err != nil {
			t.Fatalf("idle connection %d no longer served: %v", i, err)
		}
	}
}

// settledUsage returns the heap and stack bytes in use and the goroutine count once
// goroutines have stopped starting and a GC has run.
func settledUsage() (uint64, int) {
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
}
