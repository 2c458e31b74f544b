package txn

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eddy-io/eddy/broker/internal/journal/journaltest"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Fixtures: state logs as written by an earlier version of the store, both record
// kinds and every lasting state in them. Data dirs written then must keep loading, so
// the fixtures are never regenerated to fit a format change.
const (
	fixtureLog       = "testdata/transactions.log"
	fixtureCompacted = "testdata/transactions-compacted.log"
)

// writeFixtureLogs runs a fixed history on a fresh dir with a fixed clock and returns
// the log as appended and as then compacted.
func writeFixtureLogs(t *testing.T) (appended, compacted []byte) {
	t.Helper()
	dir := t.TempDir()
	e := newEnv(t, func(o *Options) { o.Dir = dir })
	e.init("expired")
	e.clock.advance(DefaultIDExpiration + time.Second)
	e.c.sweep(t.Context())
	if got := e.state("expired"); got != "" {
		t.Fatalf("expired: %s", got)
	}
	e.init("empty")
	pid, epoch := e.init("ongoing")
	e.mustAdd("ongoing", pid, epoch, tp("t", 0), tp("t", 1), tp("u", 0))
	for _, g := range []string{"g1", "g2"} {
		if code := e.addOffsets(3, "ongoing", pid, epoch, g); code != 0 {
			t.Fatal(code)
		}
	}
	e.clock.advance(time.Second)
	for _, id := range []string{"complete-commit", "complete-abort", "prepare-commit"} {
		if id == "prepare-commit" {
			e.markers.setFail(errInjected)
		}
		pid, epoch := e.init(id)
		e.mustAdd(id, pid, epoch, tp("t", 2))
		want := int16(0)
		if id == "prepare-commit" {
			want = kerr.ConcurrentTransactions.Code
		}
		if code := e.end(3, id, pid, epoch, id != "complete-abort"); code != want {
			t.Fatalf("%s: EndTxn %d", id, code)
		}
	}
	e.markers.setFail(nil)
	path := filepath.Join(dir, logFile)
	appended, err := os.ReadFile(path) // every write was synced
	if err != nil {
		t.Fatal(err)
	}
	forceCompaction(t, e.c)
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	if compacted, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return appended, compacted
}

// forceCompaction rewrites c's state log now.
func forceCompaction(t *testing.T, c *Coordinator) {
	t.Helper()
	if err := c.store.j.Rebase(true); err != nil {
		t.Fatal(err)
	}
}

// TestFixtureLogsWritten checks that the store still writes the fixtures' bytes.
func TestFixtureLogsWritten(t *testing.T) {
	appended, compacted := writeFixtureLogs(t)
	journaltest.Compare(t, map[string][]byte{fixtureLog: appended, fixtureCompacted: compacted})
}

// TestFixtureLogsLoad opens each fixture and checks the states it holds, and what the
// restart does with the unfinished ones.
func TestFixtureLogsLoad(t *testing.T) {
	for _, fixture := range []string{fixtureLog, fixtureCompacted} {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			dir, _ := journaltest.Dir(t, fixture, logFile)
			e := newEnv(t, func(o *Options) { o.Dir = dir })
			for _, tc := range []struct {
				id    string
				state string
				pid   int64
				epoch int16
			}{
				{"expired", "", 0, 0},
				{"empty", "Empty", 1001, 0},
				{"ongoing", "CompleteAbort", 1002, 1}, // aborted by the restart
				{"complete-commit", "CompleteCommit", 1003, 0},
				{"complete-abort", "CompleteAbort", 1004, 0},
				{"prepare-commit", "CompleteCommit", 1005, 0}, // finished by the restart
			} {
				st := e.describe(tc.id)
				if tc.state == "" {
					if st.ErrorCode == 0 {
						t.Errorf("%s: %+v, want unknown", tc.id, st)
					}
					continue
				}
				if st.ErrorCode != 0 || st.State != tc.state || st.ProducerID != tc.pid || st.ProducerEpoch != tc.epoch || st.TimeoutMillis != 30_000 {
					t.Errorf("%s: %+v, want %s with %d/%d", tc.id, st, tc.state, tc.pid, tc.epoch)
				}
			}
			calls := e.markers.take()
			slices.SortFunc(calls, func(a, b markerCall) int {
				if a.group != b.group {
					return bytes.Compare([]byte(a.group), []byte(b.group))
				}
				return int(a.pid - b.pid)
			})
			want := []markerCall{
				{pid: 1002, epoch: 1, commit: false, parts: []TopicPartition{tp("t", 0), tp("t", 1), tp("u", 0)}},
				{pid: 1005, epoch: 0, commit: true, parts: []TopicPartition{tp("t", 2)}},
				{group: "g1", pid: 1002, commit: false},
				{group: "g2", pid: 1002, commit: false},
			}
			if !equalCalls(calls, want) {
				t.Errorf("restart wrote %+v, want %+v", calls, want)
			}
		})
	}
}
