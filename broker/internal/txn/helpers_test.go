package txn

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// markerCall is one call the fake MarkerWriter received.
type markerCall struct {
	group  string // empty for WriteMarkers
	pid    int64
	epoch  int16 // WriteMarkers only
	commit bool
	parts  []TopicPartition
}

// fakeMarkers records calls. fail makes calls fail while set; block, when set, makes
// calls wait for it to be closed (after signalling entered).
type fakeMarkers struct {
	mu      sync.Mutex
	calls   []markerCall
	fail    error
	block   chan struct{}
	entered chan struct{}
}

func (f *fakeMarkers) wait(ctx context.Context) error {
	f.mu.Lock()
	block, entered, fail := f.block, f.entered, f.fail
	f.mu.Unlock()
	if block != nil {
		if entered != nil {
			select {
			case entered <- struct{}{}:
			default:
			}
		}
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fail
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, parts []TopicPartition) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, markerCall{pid: pid, epoch: epoch, commit: commit, parts: slices.Clone(parts)})
	return nil
}

func (f *fakeMarkers) CompleteOffsets(ctx context.Context, group string, pid int64, commit bool) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, markerCall{group: group, pid: pid, commit: commit})
	return nil
}

func (f *fakeMarkers) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// take returns the calls so far and forgets them.
func (f *fakeMarkers) take() []markerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

var errInjected = errors.New("injected failure")

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a coordinator under test with its fakes; reopen restarts it on the same dir.
type env struct {
	t       *testing.T
	c       *Coordinator
	opts    Options
	markers *fakeMarkers
	clock   *clock
	nextPID atomic.Int64
}

// newEnv starts a coordinator; mod may change the options first.
func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, markers: &fakeMarkers{}, clock: &clock{now: time.UnixMilli(1_700_000_000_000)}}
	e.nextPID.Store(1000)
	e.opts = Options{
		Dir:    t.TempDir(),
		Sync:   true,
		Logger: slog.New(slog.DiscardHandler),
		Now:    e.clock.Now,
		AllocateProducerID: func() (int64, error) {
			return e.nextPID.Add(1) - 1, nil
		},
		PartitionExists: func(topic string, p int32) bool { return topic != "missing" && p < 10 },
		Markers:         e.markers,
		MaxTimeout:      time.Minute,
		AbortInterval:   time.Hour, // tests that want the loop set it
	}
	if mod != nil {
		mod(&e.opts)
	}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	c, err := New(context.Background(), e.opts)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.c = c
	e.t.Cleanup(func() { c.Close() })
}

// reopen closes the coordinator and opens a new one on the same directory.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.c.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.open()
}

// init sends InitProducerID v4 without a producer pair.
func (e *env) init(id string) (int64, int16) {
	e.t.Helper()
	resp := e.initReq(4, id, 30_000, -1, -1)
	if resp.ErrorCode != 0 {
		e.t.Fatalf("InitProducerID(%s): error %d", id, resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func (e *env) initReq(version int16, id string, timeoutMs int32, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = kmsg.StringPtr(id)
	req.TransactionTimeoutMillis = timeoutMs
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	return e.c.InitProducerID(context.Background(), req)
}

// addReq sends AddPartitionsToTxn v3 and returns the error codes by partition.
func (e *env) add(id string, pid int64, epoch int16, parts ...TopicPartition) map[TopicPartition]int16 {
	return e.addV(3, id, pid, epoch, parts...)
}

func (e *env) addV(version int16, id string, pid int64, epoch int16, parts ...TopicPartition) map[TopicPartition]int16 {
	e.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = version
	req.TransactionalID = id
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	for _, tp := range parts {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic = tp.Topic
		rt.Partitions = []int32{tp.Partition}
		req.Topics = append(req.Topics, rt)
	}
	resp := e.c.AddPartitionsToTxn(context.Background(), req)
	out := map[TopicPartition]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[TopicPartition{rt.Topic, p.Partition}] = p.ErrorCode
		}
	}
	if len(out) != len(parts) {
		e.t.Fatalf("AddPartitionsToTxn answered %d partitions, asked %d", len(out), len(parts))
	}
	return out
}

// mustAdd adds partitions and fails the test unless every one succeeds.
func (e *env) mustAdd(id string, pid int64, epoch int16, parts ...TopicPartition) {
	e.t.Helper()
	for tp, code := range e.add(id, pid, epoch, parts...) {
		if code != 0 {
			e.t.Fatalf("AddPartitionsToTxn(%s, %v): error %d", id, tp, code)
		}
	}
}

func (e *env) addOffsets(version int16, id string, pid int64, epoch int16, group string) int16 {
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version = version
	req.TransactionalID = id
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	req.Group = group
	return e.c.AddOffsetsToTxn(context.Background(), req).ErrorCode
}

func (e *env) end(version int16, id string, pid int64, epoch int16, commit bool) int16 {
	return e.endCtx(context.Background(), version, id, pid, epoch, commit)
}

func (e *env) endCtx(ctx context.Context, version int16, id string, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = version
	req.TransactionalID = id
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	req.Commit = commit
	return e.c.EndTxn(ctx, req).ErrorCode
}

// describe returns the DescribeTransactions state of one ID.
func (e *env) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	e.t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	resp := e.c.DescribeTransactions(req)
	if len(resp.TransactionStates) != 1 {
		e.t.Fatalf("DescribeTransactions: %d states", len(resp.TransactionStates))
	}
	return resp.TransactionStates[0]
}

// state returns the ID's state name, or "" when it is unknown.
func (e *env) state(id string) string {
	e.t.Helper()
	st := e.describe(id)
	if st.ErrorCode != 0 {
		return ""
	}
	return st.State
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }

// checkProduce is CheckProduce for a produce that appends nothing: it lets go of the
// transaction at once.
func (e *env) checkProduce(id string, pid int64, epoch int16, part TopicPartition) error {
	done, err := e.c.CheckProduce(id, pid, epoch, part)
	if err == nil {
		done()
	}
	return err
}

func (e *env) checkOffsetCommit(id string, pid int64, epoch int16, group string) error {
	done, err := e.c.CheckOffsetCommit(id, pid, epoch, group)
	if err == nil {
		done()
	}
	return err
}
