package runtime_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/runtime"
)

// childEnv carries "addr|appID|stateDir" to TestAppChildProcess.
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
	cfg.ClientOptions = append(cfg.ClientOptions, kgo.SessionTimeout(2*time.Second))
	app, err := runtime.New(wordCount(t, false), cfg)
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
		child := exec.Command(os.Args[0], "-test.run=^TestAppChildProcess$")
		child.Env = append(os.Environ(), childEnv+"="+addr+"|kill|"+t.TempDir())
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
