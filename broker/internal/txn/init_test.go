package txn

import (
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestInitProducerIDValidation(t *testing.T) {
	e := newEnv(t, nil)
	pid, _ := e.init("known")
	for _, tc := range []struct {
		name    string
		version int16
		id      *string
		timeout int32
		pid     int64
		epoch   int16
		want    *kerr.Error
	}{
		{"no transactional id", 4, nil, 1000, -1, -1, kerr.InvalidRequest},
		{"empty transactional id", 4, kmsg.StringPtr(""), 1000, -1, -1, kerr.InvalidRequest},
		{"zero timeout", 4, kmsg.StringPtr("a"), 0, -1, -1, kerr.InvalidTransactionTimeout},
		{"negative timeout", 4, kmsg.StringPtr("a"), -5, -1, -1, kerr.InvalidTransactionTimeout},
		{"timeout above max", 4, kmsg.StringPtr("a"), 60_001, -1, -1, kerr.InvalidTransactionTimeout},
		{"pid without epoch", 4, kmsg.StringPtr("known"), 1000, pid, -1, kerr.InvalidRequest},
		{"epoch without pid", 4, kmsg.StringPtr("known"), 1000, -1, 0, kerr.InvalidRequest},
		{"unknown epoch v4", 4, kmsg.StringPtr("known"), 1000, pid, 7, kerr.ProducerFenced},
		{"unknown epoch v3", 3, kmsg.StringPtr("known"), 1000, pid, 7, kerr.InvalidProducerEpoch},
		{"unknown pid v4", 4, kmsg.StringPtr("known"), 1000, pid + 100, 0, kerr.ProducerFenced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version = tc.version
			req.TransactionalID = tc.id
			req.TransactionTimeoutMillis = tc.timeout
			req.ProducerID, req.ProducerEpoch = tc.pid, tc.epoch
			resp := e.c.InitProducerID(t.Context(), req)
			if resp.ErrorCode != tc.want.Code {
				t.Fatalf("error %d, want %s", resp.ErrorCode, tc.want.Message)
			}
			if resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
				t.Fatalf("failed answer carries producer %d/%d", resp.ProducerID, resp.ProducerEpoch)
			}
		})
	}
	if got := e.state("a"); got != "" {
		t.Fatalf("refused init registered the id (state %q)", got)
	}
}

func TestInitProducerIDBumps(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	if pid != 1000 || epoch != 0 {
		t.Fatalf("first init: %d/%d, want 1000/0", pid, epoch)
	}
	pid2, epoch2 := e.init("x")
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d/%d, want %d/1", pid2, epoch2, pid)
	}
	// v0 ignores pairs; another ID gets its own producer ID.
	if r := e.initReq(0, "y", 1000, 5, 5); r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("init y: %+v", r)
	}
	// KIP-360: the current pair bumps; retrying with it (the answer was lost) matches the
	// last pair and bumps again; the pair before that is fenced.
	r := e.initReq(4, "x", 1000, pid, 1)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 2 {
		t.Fatalf("KIP-360 bump: %+v", r)
	}
	r = e.initReq(4, "x", 1000, pid, 1)
	if r.ErrorCode != 0 || r.ProducerEpoch != 3 {
		t.Fatalf("KIP-360 retry: %+v", r)
	}
	if r = e.initReq(4, "x", 1000, pid, 0); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("stale pair: error %d, want PRODUCER_FENCED", r.ErrorCode)
	}
	// A new producer (no pair) leaves the old one nothing to claim.
	e.init("x") // epoch 4
	if r = e.initReq(4, "x", 1000, pid, 3); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("pair of a replaced producer: error %d, want PRODUCER_FENCED", r.ErrorCode)
	}
	// An expired (unknown) ID ignores the pair and starts over.
	if r = e.initReq(4, "fresh", 1000, 77, 9); r.ErrorCode != 0 || r.ProducerEpoch != 0 {
		t.Fatalf("pair for an unknown id: %+v", r)
	}
	if st := e.describe("x"); st.TimeoutMillis != 30_000 || st.State != "Empty" || st.StartTimestamp != -1 {
		t.Fatalf("describe after inits: %+v", st)
	}
}

func TestInitProducerIDEpochExhaustion(t *testing.T) {
	e := newEnv(t, nil)
	pid, _ := e.init("x")
	tx, _ := e.c.lockTxn("x", false)
	tx.m.epoch = math.MaxInt16 - 3 // 32764
	tx.mu.Unlock()
	r := e.initReq(4, "x", 1000, pid, math.MaxInt16-3)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != math.MaxInt16-2 {
		t.Fatalf("bump to 32765: %+v", r)
	}
	// The next bump would reach MaxInt16-1: a new producer ID instead.
	r = e.initReq(4, "x", 1000, pid, math.MaxInt16-2)
	if r.ErrorCode != 0 || r.ProducerID == pid || r.ProducerEpoch != 0 {
		t.Fatalf("rotation: %+v", r)
	}
	newPID := r.ProducerID
	// A retry with the old pair (answer lost) still works.
	r = e.initReq(4, "x", 1000, pid, math.MaxInt16-2)
	if r.ErrorCode != 0 || r.ProducerID != newPID || r.ProducerEpoch != 1 {
		t.Fatalf("retry after rotation: %+v", r)
	}
	if code := e.end(3, "x", pid, math.MaxInt16-2, true); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("EndTxn with the old producer id: %d", code)
	}
}

func TestInitProducerIDFencesOngoing(t *testing.T) {
	e := newEnv(t, nil)
	pidA, epochA := e.init("x")
	e.mustAdd("x", pidA, epochA, tp("t", 1), tp("t", 0))
	if code := e.addOffsets(3, "x", pidA, epochA, "g"); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	pidB, epochB := e.init("x") // a new producer
	if pidB != pidA || epochB != epochA+2 {
		t.Fatalf("new producer got %d/%d, want %d/%d", pidB, epochB, pidA, epochA+2)
	}
	calls := e.markers.take()
	want := []markerCall{
		{pid: pidA, epoch: epochA + 1, commit: false, parts: []TopicPartition{tp("t", 0), tp("t", 1)}},
		{group: "g", pid: pidA, commit: false},
	}
	if !equalCalls(calls, want) {
		t.Fatalf("markers %+v, want %+v", calls, want)
	}
	// The old producer is fenced everywhere.
	if code := e.end(3, "x", pidA, epochA, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("EndTxn v3 of fenced producer: %d", code)
	}
	if code := e.end(1, "x", pidA, epochA, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("EndTxn v1 of fenced producer: %d", code)
	}
	if code := e.add("x", pidA, epochA, tp("t", 2))[tp("t", 2)]; code != kerr.ProducerFenced.Code {
		t.Fatalf("AddPartitionsToTxn of fenced producer: %d", code)
	}
	if err := e.checkProduce("x", pidA, epochA, tp("t", 0)); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("CheckProduce of fenced producer: %v", err)
	}
	if st := e.describe("x"); st.State != "Empty" || len(st.Topics) != 0 {
		t.Fatalf("after fencing: %+v", st)
	}
}

func TestInitProducerIDFailures(t *testing.T) {
	e := newEnv(t, nil)
	// A failing allocator registers nothing.
	alloc := e.opts.AllocateProducerID
	e.c.opts.AllocateProducerID = func() (int64, error) { return 0, errInjected }
	if r := e.initReq(4, "x", 1000, -1, -1); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("allocation failure: %+v", r)
	}
	if e.state("x") != "" {
		t.Fatal("failed registration left the id behind")
	}
	e.c.opts.AllocateProducerID = alloc

	// The fencing abort's markers fail: CONCURRENT_TRANSACTIONS, decision kept; the
	// retry finishes it.
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	e.markers.setFail(errInjected)
	if r := e.initReq(4, "x", 1000, -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init with failing markers: %+v", r)
	}
	if got := e.state("x"); got != "PrepareAbort" {
		t.Fatalf("state %s, want PrepareAbort", got)
	}
	e.markers.setFail(nil)
	r := e.initReq(4, "x", 1000, -1, -1)
	if r.ErrorCode != 0 || r.ProducerEpoch != epoch+2 {
		t.Fatalf("retry: %+v", r)
	}
	calls := e.markers.take()
	if len(calls) != 1 || calls[0].epoch != epoch+1 || calls[0].commit {
		t.Fatalf("markers %+v", calls)
	}
}

func equalCalls(a, b []markerCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.group != y.group || x.pid != y.pid || x.epoch != y.epoch || x.commit != y.commit || len(x.parts) != len(y.parts) {
			return false
		}
		for j := range x.parts {
			if x.parts[j] != y.parts[j] {
				return false
			}
		}
	}
	return true
}
