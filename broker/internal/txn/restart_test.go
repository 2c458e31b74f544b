package txn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every state survives a restart; decided transactions are finished by New and open
// ones aborted with an epoch bump.
func TestRestartInEveryState(t *testing.T) {
	e := newEnv(t, nil)
	ids := map[string]struct {
		pid   int64
		epoch int16
	}{}
	initID := func(id string) (int64, int16) {
		pid, epoch := e.init(id)
		ids[id] = struct {
			pid   int64
			epoch int16
		}{pid, epoch}
		return pid, epoch
	}
	initID("empty")
	pid, epoch := initID("ongoing")
	e.mustAdd("ongoing", pid, epoch, tp("t", 0))
	if code := e.addOffsets(3, "ongoing", pid, epoch, "g"); code != 0 {
		t.Fatal(code)
	}
	for _, commit := range []bool{true, false} {
		id := "complete-abort"
		if commit {
			id = "complete-commit"
		}
		pid, epoch := initID(id)
		e.mustAdd(id, pid, epoch, tp("t", 1))
		if code := e.end(3, id, pid, epoch, commit); code != 0 {
			t.Fatal(code)
		}
	}
	e.markers.setFail(errInjected)
	for _, commit := range []bool{true, false} {
		id := "prepare-abort"
		if commit {
			id = "prepare-commit"
		}
		pid, epoch := initID(id)
		e.mustAdd(id, pid, epoch, tp("t", 2), tp("u", 0))
		if code := e.end(3, id, pid, epoch, commit); code != kerr.ConcurrentTransactions.Code {
			t.Fatal(code)
		}
	}
	startOngoing := e.describe("ongoing").StartTimestamp
	e.markers.setFail(nil)
	e.markers.take()

	e.reopen()
	calls := e.markers.take()
	find := func(pid int64, group string) *markerCall {
		for i := range calls {
			if calls[i].pid == pid && calls[i].group == group {
				return &calls[i]
			}
		}
		return nil
	}
	for _, tc := range []struct {
		id    string
		state string
		epoch int16 // of the ID after the restart, relative to before
		marks *markerCall
	}{
		{"empty", "Empty", 0, nil},
		{"complete-commit", "CompleteCommit", 0, nil},
		{"complete-abort", "CompleteAbort", 0, nil},
		{"prepare-commit", "CompleteCommit", 0, &markerCall{commit: true, parts: []TopicPartition{tp("t", 2), tp("u", 0)}}},
		{"prepare-abort", "CompleteAbort", 0, &markerCall{commit: false, parts: []TopicPartition{tp("t", 2), tp("u", 0)}}},
		{"ongoing", "CompleteAbort", 1, &markerCall{commit: false, parts: []TopicPartition{tp("t", 0)}}},
	} {
		p := ids[tc.id]
		st := e.describe(tc.id)
		if st.State != tc.state || st.ProducerID != p.pid || st.ProducerEpoch != p.epoch+tc.epoch {
			t.Errorf("%s: %+v", tc.id, st)
		}
		got := find(p.pid, "")
		switch {
		case tc.marks == nil && got != nil:
			t.Errorf("%s: markers written at restart: %+v", tc.id, got)
		case tc.marks != nil && (got == nil || got.commit != tc.marks.commit || got.epoch != p.epoch+tc.epoch || len(got.parts) != len(tc.marks.parts)):
			t.Errorf("%s: markers %+v, want %+v at epoch %d", tc.id, got, tc.marks, p.epoch+tc.epoch)
		}
	}
	if g := find(ids["ongoing"].pid, "g"); g == nil || g.commit {
		t.Errorf("offsets of the open transaction: %+v", g)
	}
	if st := e.describe("ongoing"); st.StartTimestamp != startOngoing {
		t.Errorf("start %d, want %d from the log", st.StartTimestamp, startOngoing)
	}
	// The producer of the transaction open at the crash recovers as from a timeout.
	p := ids["ongoing"]
	if err := e.checkProduce("ongoing", p.pid, p.epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Errorf("produce of the aborted transaction: %v", err)
	}
	if r := e.initReq(4, "ongoing", 1000, p.pid, p.epoch); r.ErrorCode != 0 || r.ProducerEpoch != p.epoch+2 {
		t.Errorf("recovery: %+v", r)
	}
	// The complete states' retries still answer as before the restart.
	if code := e.end(3, "complete-commit", ids["complete-commit"].pid, ids["complete-commit"].epoch, true); code != 0 {
		t.Errorf("commit retry after restart: %d", code)
	}
	// And the next restart has nothing left to do.
	e.reopen()
	if calls := e.markers.take(); len(calls) != 0 {
		t.Fatalf("second restart wrote %+v", calls)
	}
}

// Markers that fail during New do not fail it: the loop finishes them.
func TestRestartMarkerFailureLeftToLoop(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AbortInterval = 2 * time.Millisecond })
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	e.markers.setFail(errInjected)
	e.reopen()
	if got := e.state("x"); got != "PrepareAbort" {
		t.Fatalf("state after restart with failing markers: %s", got)
	}
	e.markers.setFail(nil)
	waitFor(t, "the loop to finish the abort", func() bool { return e.state("x") == "CompleteAbort" })
}

func TestTornTail(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	if code := e.end(3, "x", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.opts.Dir, logFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range [][]byte{
		{0, 0},                         // a torn frame header
		{0, 0, 0, 50, 1, 2, 3, 4, 1},   // a frame longer than the file
		{0, 0, 0, 2, 9, 9, 9, 9, 1, 2}, // a frame whose CRC does not match
		{0, 0, 0, 0, 0, 0, 0, 0},       // zeroes, as a crash may leave
	} {
		if err := os.WriteFile(path, append(good[:len(good):len(good)], tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		e.open()
		if st := e.describe("x"); st.State != "CompleteCommit" || st.ProducerID != pid {
			t.Fatalf("tail %v: %+v", tail, st)
		}
		if err := e.c.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); len(got) != len(good) {
			t.Fatalf("tail %v: log is %d bytes, want %d after truncation", tail, len(got), len(good))
		}
	}
	// A bad header is not a torn tail.
	if err := os.WriteFile(path, append([]byte("notmagic"), good[len(logMagic):]...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), e.opts); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad header: %v", err)
	}
	// Nor is a record with a good CRC that does not decode.
	bad := []byte{recState, 200}
	frame := appendFrame([]byte(logMagic), bad)
	if err := os.WriteFile(path, frame, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), e.opts); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("undecodable record: %v", err)
	}
}

func TestClosedCoordinator(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r := e.initReq(4, "x", 1000, -1, -1); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("InitProducerID: %d", r.ErrorCode)
	}
	if code := e.end(3, "x", pid, epoch, true); code != kerr.NotCoordinator.Code {
		t.Errorf("EndTxn: %d", code)
	}
	if code := e.add("x", pid, epoch, tp("t", 1))[tp("t", 1)]; code != kerr.NotCoordinator.Code {
		t.Errorf("AddPartitionsToTxn: %d", code)
	}
	if err := e.checkProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.NotCoordinator) {
		t.Errorf("CheckProduce: %v", err)
	}
	if st := e.describe("x"); st.ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("DescribeTransactions: %+v", st)
	}
	if resp := e.c.ListTransactions(kmsg.NewPtrListTransactionsRequest()); resp.ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("ListTransactions: %+v", resp)
	}
}

// Without Sync the state is still logged and survives a clean restart.
func TestWithoutSync(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Sync = false })
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	if code := e.end(3, "x", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	e.reopen()
	if st := e.describe("x"); st.State != "CompleteCommit" || st.ProducerID != pid {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestNewRequiresOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no dir":     {AllocateProducerID: func() (int64, error) { return 0, nil }, Markers: &fakeMarkers{}},
		"no markers": {Dir: t.TempDir(), AllocateProducerID: func() (int64, error) { return 0, nil }},
		"no pids":    {Dir: t.TempDir(), Markers: &fakeMarkers{}},
	} {
		if _, err := New(t.Context(), o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
