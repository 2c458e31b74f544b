package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// eosChildEnv carries "addr|appID|stateDir" to TestEOSChildProcess.
const eosChildEnv = "EDDY_EOS_CHILD"

// TestEOSChildProcess runs the exactly-once balance job for TestEOSSIGKILL in a
// subprocess, until it is killed (or a bound passes, should the parent die first).
func TestEOSChildProcess(t *testing.T) {
	spec := os.Getenv(eosChildEnv)
	if spec == "" {
		t.Skip("runs only as TestEOSSIGKILL's subprocess")
	}
	parts := strings.Split(spec, "|")
	runUntilKilled(t, transfers(t, nil), eosConfig(t, parts[0], parts[1], parts[2]))
}

// The balance job killed with SIGKILL in the middle of its work, then restarted on
// the same state directory: the new producer fences the dead one's and aborts its
// open transaction, the Badger store reopens at its last commit and replays only the
// changelog written after it (none or one transaction's worth, not the whole log),
// and every transfer counts exactly once.
func TestEOSSIGKILL(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		const changelog = "eoskill-balances-changelog"
		createTopic(t, addr, "transfers", 2)
		createTopic(t, addr, "balances", 1)
		dir := t.TempDir()
		child := startEOSChild(t, addr+"|eoskill|"+dir)
		r := newCommittedReader(t, addr, "balances")
		ids, values := transferBatch(0, 2000)
		produceKeyed(t, addr, "transfers", ids, values)
		checkBalances(t, r, values)

		// The second batch trickles in, and the child is killed while it works on it.
		ids, values = transferBatch(0, 6000)
		produced := make(chan struct{})
		go func() {
			defer close(produced)
			for i := 2000; i < 6000; i += 100 {
				produceKeyed(t, addr, "transfers", ids[i:i+100], values[i:i+100])
				time.Sleep(10 * time.Millisecond)
			}
		}()
		r.until(t, func(recs []*kgo.Record) bool { return len(recs) > 5000 }, func(recs []*kgo.Record) string {
			return fmt.Sprintf("%d balance changes", len(recs))
		})
		if err := child.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		ends := changelogEnds(t, adminClient(t, addr), changelog)
		logged := int64(0)
		for _, end := range ends {
			logged += end
		}

		cfg := eosConfig(t, addr, "eoskill", dir)
		l := newCountingListener()
		cfg.RestoreListener = l
		app := startApp(t, transfers(t, nil), cfg)
		<-produced
		checkBalances(t, r, values)
		checkStore(t, app.app, values)
		restored := l.total.Load()
		l.mu.Lock()
		minStart := l.minStart
		l.mu.Unlock()
		// Killed right after a transaction commits, the store has not committed it
		// yet: that transaction is the tail replayed.
		t.Logf("changelog of %d records when killed; %d restored after the restart, from offset %d at the lowest", logged, restored, minStart)
		if logged < 4000 || restored*4 > logged || minStart == 0 {
			t.Errorf("restored %d records of a changelog of %d, from offset %d: want only the tail since the last commit", restored, logged, minStart)
		}
	})
}

// startEOSChild runs TestEOSChildProcess with spec, killing it at the test's end.
func startEOSChild(t *testing.T, spec string) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestEOSChildProcess$")
	child.Env = append(os.Environ(), eosChildEnv+"="+spec)
	if testing.Verbose() {
		child.Stderr = os.Stderr
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	return child
}
