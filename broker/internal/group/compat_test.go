package group

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-io/eddy/broker/internal/journal/journaltest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fixtures: offsets logs as written by an earlier version of the store, every record
// kind in them. Data dirs written then must keep loading, so the fixtures are never
// regenerated to fit a format change.
const (
	fixtureLog       = "testdata/offsets.log"
	fixtureCompacted = "testdata/offsets-compacted.log"
)

// writeFixtureLogs runs a fixed history of every record kind on a fresh dir with a
// fixed clock and returns the log as appended and as then compacted. Each group keeps
// at most one offset outside transactions, so that the compaction's order is fixed too.
func writeFixtureLogs(t *testing.T) (appended, compacted []byte) {
	t.Helper()
	dir := t.TempDir()
	clk := newTestClock()
	c := newCoord(t, Options{Dir: dir, Sync: true, now: clk.Now})
	commit(t, c, "g1", "", -1, "t", map[int32]int64{0: 10})
	clk.set(time.Second)
	commit(t, c, "g1", "", -1, "u", map[int32]int64{0: 12})
	commit(t, c, "g2", "", -1, "t", map[int32]int64{0: 20})
	commit(t, c, "gone", "", -1, "t", map[int32]int64{0: 1})
	commit(t, c, "g3", "", -1, "x", map[int32]int64{0: 1})
	clk.set(2 * time.Second)
	mustTxn(t, c, "g1", 7, "t", map[int32]int64{0: 100})
	mustTxn(t, c, "g2", 8, "t", map[int32]int64{0: 200})
	mustTxn(t, c, "g2", 9, "u", map[int32]int64{3: 300})
	complete(t, c, "g1", 7, true)
	complete(t, c, "g2", 8, false)
	clk.set(3 * time.Second)

	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g1"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "u", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	if resp, err := c.OffsetDelete(t.Context(), del); err != nil || resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetDelete: %+v %v", resp, err)
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"gone"}
	if resp, err := c.DeleteGroups(t.Context(), dg); err != nil || resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("DeleteGroups: %+v %v", resp, err)
	}
	c.DeleteTopic("x")

	clk.set(4 * time.Second)
	m := join(t, c, tm{group: "g1"})
	clk.set(5 * time.Second)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = "g1"
	leave.MemberID = m.MemberID
	wantCode(t, "leave", c.LeaveGroup(leave).ErrorCode, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, logFile)
	appended, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	clk.set(6 * time.Second)
	c = newCoord(t, Options{Dir: dir, Sync: true, now: clk.Now})
	forceCompaction(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if compacted, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return appended, compacted
}

// TestFixtureLogsWritten checks that the store still writes the fixtures' bytes.
func TestFixtureLogsWritten(t *testing.T) {
	appended, compacted := writeFixtureLogs(t)
	journaltest.Compare(t, map[string][]byte{fixtureLog: appended, fixtureCompacted: compacted})
}

// TestFixtureLogsLoad opens each fixture and checks the history it holds.
func TestFixtureLogsLoad(t *testing.T) {
	for _, fixture := range []string{fixtureLog, fixtureCompacted} {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			dir, data := journaltest.Dir(t, fixture, logFile)
			clk := newTestClock()
			clk.set(time.Hour)
			c := newCoord(t, Options{Dir: dir, now: clk.Now})
			if got := stable(t, c, 8, "g1", nil); got != "t/0=100" {
				t.Errorf("g1: %s", got)
			}
			if got := stable(t, c, 8, "g2", map[string][]int32{"t": {0}, "u": {3}}); got != "t/0=20 u/3=UNSTABLE" {
				t.Errorf("g2: %s", got)
			}
			for _, g := range []string{"gone", "g3"} {
				if c.store.hasGroup(g) {
					t.Errorf("deleted group %s is back", g)
				}
			}
			// Retention counts from the record of g1's member leaving. Nothing was logged
			// at open, so the file is as it was.
			if since, ok := c.store.idleSince("g1"); !ok || since != clk.t0.Add(5*time.Second).UnixMilli() {
				t.Errorf("g1 idle since %d (%v), want 5s after the start", since, ok)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(filepath.Join(dir, logFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, data) {
				t.Errorf("opening the fixture changed it")
			}
			// Pending offsets commit as they would have before the restart.
			c = newCoord(t, Options{Dir: dir, now: clk.Now})
			complete(t, c, "g2", 9, true)
			if got := stable(t, c, 8, "g2", nil); got != "t/0=20 u/3=300" {
				t.Errorf("g2 after its transaction commits: %s", got)
			}
		})
	}
}
