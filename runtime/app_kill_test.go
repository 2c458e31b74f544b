package runtime_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/runtime"
)

// childEnv carries "addr|appID|stateDir" to TestAppChildProcess, optionally followed
// by "|standbyReplicas|applicationServer".
const childEnv = "EDDY_APP_CHILD"

// TestAppChildProcess runs a word count instance for TestAppSIGKILL in a subprocess,
// until it is killed (or a bound passes, should the parent die first).
func TestAppChildProcess(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("runs only as TestAppSIGKILL's subprocess")
	}
	parts := strings.Split(spec, "|")
	cfg := appConfig(t, parts[0], parts[1], parts[2])
	if len(parts) == 5 {
		n, err := strconv.Atoi(parts[3])
		if err != nil {
			t.Fatal(err)
		}
		cfg.StandbyReplicas, cfg.ApplicationServer = n, parts[4]
	}
	runUntilKilled(t, wordCount(t, false), cfg)
}

// runUntilKilled runs top as a subprocess instance until the parent test kills it, or
// a bound passes should the parent die first. The group drops a killed member soon
// (a 2s session timeout), so a restarted or surviving one gets its tasks.
func runUntilKilled(t *testing.T, top *runtime.Topology, cfg runtime.Config) {
	cfg.ClientOptions = append(cfg.ClientOptions, kgo.SessionTimeout(2*time.Second))
	app, err := runtime.New(top, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*appTestTimeout)
	defer cancel()
	if err := app.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two instances, one in a subprocess killed with SIGKILL: the survivor takes its
// tasks over once the group notices (a 2s session timeout) and restores their state
// from the changelogs; the counts stay exact, since the killed instance had
// committed all it had processed.
func TestAppSIGKILL(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 4)
		createTopic(t, addr, "word-counts", 1)
		child := startChild(t, addr+"|kill|"+t.TempDir())
		startApp(t, wordCount(t, false), appConfig(t, addr, "kill", t.TempDir()))
		waitMembersWithWork(t, addr, "kill", "lines", 2)

		first := lines(0, 40)
		produce(t, addr, "lines", first...)
		waitCounts(t, addr, "word-counts", expectedCounts(first...))
		waitCaughtUp(t, addr, "kill", "lines", "kill-counts-repartition")

		if err := child.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		second := lines(40, 40)
		produce(t, addr, "lines", second...)
		waitCounts(t, addr, "word-counts", expectedCounts(append(first, second...)...))
	})
}

// startChild runs TestAppChildProcess with spec, killing it at the test's end.
func startChild(t *testing.T, spec string) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestAppChildProcess$")
	child.Env = append(os.Environ(), childEnv+"="+spec)
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

// Two instances with one standby replica, one in a subprocess killed with SIGKILL:
// the survivor, which kept the standbys of the killed instance's counting tasks,
// takes them over restoring only a short tail of their changelogs.
func TestAppSIGKILLStandby(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		const changelog = "killsb-counts-changelog"
		createTopic(t, addr, "lines", 4)
		createTopic(t, addr, "word-counts", 1)
		child := startChild(t, addr+"|killsb|"+t.TempDir()+"|1|127.0.0.1:10002")
		cfg := appConfig(t, addr, "killsb", t.TempDir())
		cfg.StandbyReplicas, cfg.ApplicationServer = 1, "127.0.0.1:10001"
		l := &tailListener{restored: map[runtime.TopicPartition]int64{}, started: map[runtime.TopicPartition]bool{}}
		cfg.RestoreListener = l
		r := startApp(t, wordCount(t, false), cfg)
		waitMembersWithWork(t, addr, "killsb", "lines", 2)

		first := distinctLines(0, 400)
		produce(t, addr, "lines", first...)
		waitCounts(t, addr, "word-counts", expectedCounts(first...))
		waitCaughtUp(t, addr, "killsb", "lines", "killsb-counts-repartition")
		var theirs []runtime.TaskID
		for deadline := time.Now().Add(appTestTimeout); len(theirs) == 0; time.Sleep(50 * time.Millisecond) {
			active, standby := standbyMap(r.app.AllMetadata())
			theirs = theirs[:0]
			settled := true
			for id, server := range active {
				if id.Subtopology == 1 && server == "127.0.0.1:10002" {
					theirs = append(theirs, id)
					settled = settled && len(standby[id]) == 1 && standby[id][0] == cfg.ApplicationServer
				}
			}
			if !settled {
				theirs = theirs[:0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("the child never ran counting tasks with standbys here: active %v, standby %v", active, standby)
			}
		}
		ends := changelogEnds(t, adminClient(t, addr), changelog)
		time.Sleep(time.Second) // standbys poll every 200ms at most
		l.arm()
		if err := child.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		second := lines(0, 20)
		produce(t, addr, "lines", second...)
		waitCounts(t, addr, "word-counts", expectedCounts(append(first, second...)...))
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, id := range theirs {
			tp := runtime.TopicPartition{Topic: changelog, Partition: id.Partition}
			t.Logf("task %s: changelog of %d records, %d restored after SIGKILL", id, ends[id.Partition], l.restored[tp])
			if ends[id.Partition] < 200 || l.restored[tp]*10 > ends[id.Partition] {
				t.Errorf("task %s restored %d records of a changelog of %d: want a short tail", id, l.restored[tp], ends[id.Partition])
			}
		}
	})
}
