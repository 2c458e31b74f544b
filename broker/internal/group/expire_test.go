package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eddy-io/eddy/broker/internal/journal"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testRetention = time.Hour

// testClock is the injected clock of offset retention.
type testClock struct {
	mu  sync.Mutex
	t0  time.Time
	now time.Time
}

func newTestClock() *testClock {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return &testClock{t0: t0, now: t0}
}

func (k *testClock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now
}

// set moves the clock to d after its start.
func (k *testClock) set(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = k.t0.Add(d)
}

func (k *testClock) since() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now.Sub(k.t0)
}

// retentionCoord opens a coordinator on dir whose offsets expire after testRetention of
// clk's time; expiry runs only when the test calls expireOffsets.
func retentionCoord(t *testing.T, dir string, clk *testClock) *Coordinator {
	t.Helper()
	return newCoord(t, Options{Dir: dir, Sync: true, OffsetsRetention: testRetention, OffsetsRetentionCheckInterval: time.Hour, now: clk.Now})
}

// expireAt runs one expiry pass at d after the clock's start.
func expireAt(t *testing.T, c *Coordinator, clk *testClock, d time.Duration) {
	t.Helper()
	clk.set(d)
	c.expireOffsets(t.Context())
}

// wantKept checks that group is listed and has offsets, or neither.
func wantKept(t *testing.T, c *Coordinator, group string, kept bool, when string) {
	t.Helper()
	listed := slices.ContainsFunc(c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups, func(g kmsg.ListGroupsResponseGroup) bool {
		return g.Group == group
	})
	offsets := fetched(c, group)
	if listed != kept || (len(offsets) > 0) != kept {
		t.Fatalf("%s: listed %v, offsets %v; want kept=%v", when, listed, offsets, kept)
	}
}

func restart(t *testing.T, c *Coordinator, clk *testClock) *Coordinator {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return retentionCoord(t, c.opts.Dir, clk)
}

func TestOffsetRetention(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup runs at the clock's start and leaves group "g" without members, or with
		// members when expires is 0.
		setup func(t *testing.T, c *Coordinator, clk *testClock)
		// expires is when the offsets expire, after the clock's start; 0 means not while
		// the group has members, then testRetention after the restart that drops them.
		expires time.Duration
	}{
		{
			name: "simple consumer's commit",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
				clk.set(30 * time.Minute)
				wantKept(t, c, "g", true, "fetch and list do not count as use")
			},
			expires: testRetention,
		},
		{
			name: "commit restarts the clock",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
				expireAt(t, c, clk, 50*time.Minute)
				commit(t, c, "g", "", -1, "t", map[int32]int64{1: 2})
			},
			expires: 50*time.Minute + testRetention,
		},
		{
			name: "pending transactional offsets keep the group",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
				clk.set(10 * time.Minute)
				mustTxn(t, c, "g", 7, "t", map[int32]int64{0: 2})
				expireAt(t, c, clk, 5*time.Hour)
				wantKept(t, c, "g", true, "with offsets pending")
				complete(t, c, "g", 7, true)
			},
			expires: 5*time.Hour + testRetention,
		},
		{
			name: "aborted transaction",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
				mustTxn(t, c, "g", 7, "t", map[int32]int64{1: 2})
				expireAt(t, c, clk, 2*time.Hour)
				wantKept(t, c, "g", true, "with offsets pending")
				complete(t, c, "g", 7, false)
			},
			expires: 2*time.Hour + testRetention,
		},
		{
			name: "members keep the group",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				a := join(t, c, tm{})
				recv(t, syncAsync(c, "g", a.MemberID, a.Generation, nil))
				wantCode(t, "commit", commitCode(t, commit(t, c, "g", a.MemberID, a.Generation, "t", map[int32]int64{0: 1})), nil)
				expireAt(t, c, clk, 5*time.Hour)
				wantKept(t, c, "g", true, "with a member")
			},
		},
		{
			name: "clock starts when the last member leaves",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				a := join(t, c, tm{})
				recv(t, syncAsync(c, "g", a.MemberID, a.Generation, nil))
				wantCode(t, "commit", commitCode(t, commit(t, c, "g", a.MemberID, a.Generation, "t", map[int32]int64{0: 1})), nil)
				clk.set(2 * time.Hour)
				leave := kmsg.NewPtrLeaveGroupRequest()
				leave.Group, leave.MemberID = "g", a.MemberID
				wantCode(t, "leave", c.LeaveGroup(leave).ErrorCode, nil)
			},
			expires: 2*time.Hour + testRetention,
		},
		{
			name: "compaction keeps the clock",
			setup: func(t *testing.T, c *Coordinator, clk *testClock) {
				commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
				clk.set(10 * time.Minute)
				commit(t, c, "g", "", -1, "t", map[int32]int64{1: 1})
				commit(t, c, "other", "", -1, "t", map[int32]int64{0: 1})
				forceCompaction(t, c)
			},
			expires: 10*time.Minute + testRetention,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			c := retentionCoord(t, t.TempDir(), clk)
			tc.setup(t, c, clk)
			expires := tc.expires
			if expires == 0 {
				// The members go with the restart; the group is empty from then on.
				c = restart(t, c, clk)
				expires = clk.since() + testRetention
			}
			expireAt(t, c, clk, expires-time.Millisecond)
			wantKept(t, c, "g", true, "just before retention")
			// A restart in between does not restart the clock.
			c = restart(t, c, clk)
			wantKept(t, c, "g", true, "reopened before retention")
			expireAt(t, c, clk, expires)
			wantKept(t, c, "g", false, "at retention")
			c = restart(t, c, clk)
			wantKept(t, c, "g", false, "reopened after expiry")
		})
	}
}

// TestOffsetRetentionOfOldLog opens a log written before records had times: its groups
// count from the first open, also across later restarts.
func TestOffsetRetentionOfOldLog(t *testing.T) {
	dir := t.TempDir()
	var file bytes.Buffer
	file.WriteString("eddyoff1")
	for _, payload := range [][]byte{
		{opCommit, 3, 'o', 'l', 'd', 1, 1, 't', 0, 2, 0, 0},             // "old": t/0 at offset 1, epoch 0, no metadata
		{opCommit, 4, 'k', 'e', 'p', 't', 1, 1, 't', 0, 4, 0, 0},        // "kept": t/0 at 2
		{opTxnCommit, 4, 'k', 'e', 'p', 't', 14, 1, 1, 't', 0, 6, 0, 0}, // producer 7 has t/0 at 3 pending
	} {
		binary.Write(&file, binary.BigEndian, uint32(len(payload)))
		binary.Write(&file, binary.BigEndian, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
		file.Write(payload)
	}
	if err := os.WriteFile(filepath.Join(dir, logFile), file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	clk := newTestClock()
	clk.set(24 * time.Hour)
	c := retentionCoord(t, dir, clk)
	if got := fetched(c, "old")["t"][0]; got != 1 {
		t.Fatalf("old log: offset %d, want 1", got)
	}
	if got := stable(t, c, 7, "kept", map[string][]int32{"t": {0}}); got != "t/0=UNSTABLE" {
		t.Fatalf("old log's pending offset: %s", got)
	}
	clk.set(24*time.Hour + 30*time.Minute)
	c = restart(t, c, clk)
	expireAt(t, c, clk, 25*time.Hour-time.Millisecond)
	wantKept(t, c, "old", true, "before retention from the first open")
	expireAt(t, c, clk, 25*time.Hour)
	wantKept(t, c, "old", false, "retention after the first open")
	wantKept(t, c, "kept", true, "with offsets pending")
	c = restart(t, c, clk)
	wantKept(t, c, "old", false, "reopened after expiry")
	wantKept(t, c, "kept", true, "reopened, with offsets pending")
}

// TestOffsetExpiryRuns checks the coordinator's own expiry goroutine, and that it does
// nothing without a retention.
func TestOffsetExpiryRuns(t *testing.T) {
	for _, retention := range []time.Duration{0, testRetention} {
		t.Run(fmt.Sprint("retention=", retention), func(t *testing.T) {
			clk := newTestClock()
			c := newCoord(t, Options{OffsetsRetention: retention, OffsetsRetentionCheckInterval: time.Millisecond, now: clk.Now})
			commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
			clk.set(100 * testRetention)
			deadline := time.Now().Add(200 * time.Millisecond)
			if retention > 0 {
				deadline = time.Now().Add(5 * time.Second)
			}
			for len(fetched(c, "g")) > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			wantKept(t, c, "g", retention == 0, "after the goroutine ran")
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.expiryDone:
			default:
				t.Fatal("expiry goroutine still running after Close")
			}
		})
	}
}

func TestTimedRecordEncoding(t *testing.T) {
	for _, o := range []op{
		{kind: opMembers, group: "g", members: true},
		{kind: opMembers, group: "g", members: false, at: 1},
		{kind: opCommit, group: "g", at: 1 << 42, entries: []offsetEntry{{topic: "t", partition: 1, committed: committed{offset: 5}}}},
		{kind: opDeleteGroup, group: "g", at: 12345},
	} {
		got, err := decodeOp(o.encode(nil))
		if err != nil {
			t.Fatalf("decode %+v: %v", o, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(o) {
			t.Fatalf("round trip: %+v, want %+v", got, o)
		}
	}
	untimed := (&op{kind: opDeleteGroup, group: "g"}).encode(nil)
	for name, payload := range map[string][]byte{
		"no time":        {opTimed},
		"zero time":      append([]byte{opTimed, 0}, untimed...),
		"negative time":  append([]byte{opTimed, 1}, untimed...),
		"nested":         append([]byte{opTimed, 2, opTimed, 2}, untimed...),
		"nothing timed":  {opTimed, 2},
		"members flag 2": {opMembers, 1, 'g', 2},
		// A count no payload can hold, which once made the decoder allocate it.
		"huge count": {opCommit, 1, 'g', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	} {
		if _, err := decodeOp(payload); !errors.Is(err, journal.ErrBadRecord) {
			t.Fatalf("%s: %v, want ErrBadRecord", name, err)
		}
	}
}
