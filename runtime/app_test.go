package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// lines returns n lines over a small vocabulary, numbered from first.
func lines(first, n int) []string {
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	out := make([]string, n)
	for i := range out {
		j := first + i
		out[i] = fmt.Sprintf("%s %s %s", words[j%5], words[(j/5)%5], words[(j*3)%5])
	}
	return out
}

func TestAppWordCount(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 3)
		createTopic(t, addr, "word-counts", 2)
		in := lines(0, 60)
		produce(t, addr, "lines", in...)
		cfg := appConfig(t, addr, "wc", t.TempDir())
		var mu sync.Mutex
		var states []string
		cfg.StateListener = func(_, s runtime.AppState) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, s.String())
		}
		cfg.Threads = 2
		cfg.MaxBufferedPerPartition = 4 // polls return more: partitions pause and resume
		r := startApp(t, wordCount(t, false), cfg)
		waitCounts(t, addr, "word-counts", expectedCounts(in...))
		// Both threads join and start their tasks: the instance is running.
		for deadline := time.Now().Add(appTestTimeout); r.app.State() != runtime.StateRunning; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("state %v, never RUNNING", r.app.State())
			}
		}
		if err := r.close(t); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := strings.Join(states, " ")
		mu.Unlock()
		if !strings.HasPrefix(got, "REBALANCING ") || !strings.HasSuffix(got, " RUNNING PENDING_SHUTDOWN NOT_RUNNING") {
			t.Errorf("state changes %q, want REBALANCING ... RUNNING PENDING_SHUTDOWN NOT_RUNNING", got)
		}

		// Internal topics exist with one partition per task.
		details, err := adminClient(t, addr).ListTopics(testCtx(t), "wc-counts-changelog")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(details["wc-counts-changelog"].Partitions); n != 3 {
			t.Errorf("changelog has %d partitions, want 3", n)
		}
	})
}

func TestAppTwoInstancesFailover(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 4)
		createTopic(t, addr, "word-counts", 1)
		top := wordCount(t, true)
		a := startApp(t, top, appConfig(t, addr, "wc2", t.TempDir()))
		startApp(t, top, appConfig(t, addr, "wc2", t.TempDir()))
		waitMembersWithWork(t, addr, "wc2", "lines", 2)
		first := lines(0, 40)
		produce(t, addr, "lines", first...)
		waitCounts(t, addr, "word-counts", expectedCounts(first...))

		if err := a.close(t); err != nil {
			t.Fatalf("Run of the closed instance: %v", err)
		}
		second := lines(40, 40)
		produce(t, addr, "lines", second...)
		waitCounts(t, addr, "word-counts", expectedCounts(append(first, second...)...))
	})
}

// restoreCounter is a RestoreListener that sums what it is told.
type restoreCounter struct {
	mu       sync.Mutex
	restored int64
	starts   map[runtime.TopicPartition]int64
	ends     int
}

func (r *restoreCounter) OnRestoreStart(tp runtime.TopicPartition, _ string, start, _ int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts[tp] = start
}

func (r *restoreCounter) OnBatchRestored(_ runtime.TopicPartition, _ string, _ int64, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored += int64(n)
}

func (r *restoreCounter) OnRestoreEnd(runtime.TopicPartition, string, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ends++
}

// changelogEnds returns the end offset of each partition of topic.
func changelogEnds(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	listed, err := adm.ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// An instance restarted on its state directory restores only what another instance
// appended to the changelog after its last commit.
func TestAppRestoresChangelogTail(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 2)
		createTopic(t, addr, "word-counts", 1)
		top := wordCount(t, false)
		adm := adminClient(t, addr)
		dirA, dirB := t.TempDir(), t.TempDir()
		changelog := "wcr-counts-changelog"

		first := lines(0, 30)
		produce(t, addr, "lines", first...)
		a := startApp(t, top, appConfig(t, addr, "wcr", dirA))
		waitCounts(t, addr, "word-counts", expectedCounts(first...))
		if err := a.close(t); err != nil {
			t.Fatal(err)
		}
		afterA := changelogEnds(t, adm, changelog)

		second := lines(30, 30)
		produce(t, addr, "lines", second...)
		b := startApp(t, top, appConfig(t, addr, "wcr", dirB))
		waitCounts(t, addr, "word-counts", expectedCounts(append(first, second...)...))
		if err := b.close(t); err != nil {
			t.Fatal(err)
		}
		afterB := changelogEnds(t, adm, changelog)
		var tail int64
		for p, end := range afterB {
			tail += end - afterA[p]
		}
		if tail == 0 {
			t.Fatal("the second instance wrote nothing to the changelog")
		}

		third := lines(60, 10)
		produce(t, addr, "lines", third...)
		rc := &restoreCounter{starts: map[runtime.TopicPartition]int64{}}
		cfg := appConfig(t, addr, "wcr", dirA)
		cfg.RestoreListener = rc
		startApp(t, top, cfg)
		waitCounts(t, addr, "word-counts", expectedCounts(append(append(first, second...), third...)...))
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.restored != tail {
			t.Errorf("restored %d records, want the tail of %d", rc.restored, tail)
		}
		for tp, start := range rc.starts {
			if start != afterA[tp.Partition] {
				t.Errorf("%s restored from %d, want %d (the first instance's last commit)", tp, start, afterA[tp.Partition])
			}
		}
	})
}

// With OffsetReset latest, repartition topics still start at the earliest offset: the
// application commits that start before its consumers join.
func TestAppLatestKeepsRepartitionEarliest(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 2)
		createTopic(t, addr, "word-counts", 1)
		cfg := appConfig(t, addr, "latest", t.TempDir())
		cfg.OffsetReset = runtime.OffsetResetLatest
		startApp(t, wordCount(t, true), cfg)
		waitMembersWithWork(t, addr, "latest", "lines", 1)
		committed, err := adminClient(t, addr).FetchOffsets(testCtx(t), "latest")
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			o, ok := committed.Lookup("latest-counts-repartition", p)
			if !ok || o.Err != nil || o.At != 0 {
				t.Errorf("repartition partition %d: committed %+v (found %v), want offset 0", p, o, ok)
			}
		}
		if _, ok := committed.Lookup("lines", 0); ok {
			t.Error("lines has a committed offset before any record was processed")
		}
	})
}

func TestAppMissingSourceTopic(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		app, err := runtime.New(wordCount(t, true), appConfig(t, addr, "missing", t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close(context.Background())
		err = app.Run(testCtx(t))
		errorIs(t, err, runtime.ErrMissingSourceTopics)
		if !strings.Contains(err.Error(), "lines") {
			t.Errorf("error %q does not name the topic", err)
		}
	})
}

func TestAppCopartitioning(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "left", 2)
		createTopic(t, addr, "right", 3)
		top := runtime.NewTopology()
		for _, name := range []string{"left", "right"} {
			if err := top.AddSource(name, runtime.SourceConfig[string, string]{Topics: []string{name}, Keys: serde.String(), Values: serde.String()}); err != nil {
				t.Fatal(err)
			}
		}
		if err := top.AddProcessor("both", passThrough[string, string](), "left", "right"); err != nil {
			t.Fatal(err)
		}
		app, err := runtime.New(top, appConfig(t, addr, "copart", t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close(context.Background())
		err = app.Run(testCtx(t))
		errorIs(t, err, runtime.ErrCopartitioning)
		if !strings.Contains(err.Error(), "left (2)") || !strings.Contains(err.Error(), "right (3)") {
			t.Errorf("error %q does not give the counts", err)
		}
	})
}

// numbers reads int64 values from "numbers" and writes them as strings to "out".
func numbers(t *testing.T) *runtime.Topology {
	t.Helper()
	top := runtime.NewTopology()
	if err := top.AddSource("numbers", runtime.SourceConfig[string, int64]{Topics: []string{"numbers"}, Keys: serde.String(), Values: serde.Int64()}); err != nil {
		t.Fatal(err)
	}
	if err := top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "out", Keys: serde.String(), Values: serde.Int64()}, "numbers"); err != nil {
		t.Fatal(err)
	}
	return top
}

func TestAppDeserializationHandler(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "numbers", 1)
		createTopic(t, addr, "out", 1)
		good, _ := serde.Int64().Encode(7)
		produce(t, addr, "numbers", "bad", string(good))

		t.Run("skip", func(t *testing.T) {
			cfg := appConfig(t, addr, "deser-skip", t.TempDir())
			cfg.OnDeserializationError = runtime.ContinueOnError
			startApp(t, numbers(t), cfg)
			waitCounts(t, addr, "out", map[string]int64{"kk": 7})
		})
		t.Run("fail", func(t *testing.T) {
			r := startApp(t, numbers(t), appConfig(t, addr, "deser-fail", t.TempDir()))
			errorIs(t, r.wait(t), runtime.ErrDeserialization)
			if s := r.app.State(); s != runtime.StateError {
				t.Errorf("state %v after a failure, want ERROR", s)
			}
		})
	})
}

func TestAppProductionHandler(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "numbers", 1)
		good, _ := serde.Int64().Encode(7)
		produce(t, addr, "numbers", string(good))
		// The sink writes a topic nobody created.
		top := runtime.NewTopology()
		if err := top.AddSource("numbers", runtime.SourceConfig[string, int64]{Topics: []string{"numbers"}, Keys: serde.String(), Values: serde.Int64()}); err != nil {
			t.Fatal(err)
		}
		if err := top.AddSink("nowhere", runtime.SinkConfig[string, int64]{Topic: "no-such-topic", Keys: serde.String(), Values: serde.Int64()}, "numbers"); err != nil {
			t.Fatal(err)
		}
		t.Run("fail", func(t *testing.T) {
			r := startApp(t, top, appConfig(t, addr, "prod-fail", t.TempDir()))
			err := r.wait(t)
			if err == nil || !strings.Contains(err.Error(), "no-such-topic") {
				t.Fatalf("Run returned %v, want a production error naming the topic", err)
			}
		})
		t.Run("skip", func(t *testing.T) {
			var mu sync.Mutex
			var dropped []string
			cfg := appConfig(t, addr, "prod-skip", t.TempDir())
			cfg.OnProductionError = func(r runtime.ProducedRecord, _ error) runtime.ErrorAction {
				mu.Lock()
				defer mu.Unlock()
				dropped = append(dropped, r.Topic)
				return runtime.ActionContinue
			}
			r := startApp(t, top, cfg)
			deadline := time.Now().Add(appTestTimeout)
			for {
				mu.Lock()
				n := len(dropped)
				mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the production handler was never called")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := r.close(t); err != nil {
				t.Fatalf("Run returned %v after a skipped record", err)
			}
		})
	})
}

func TestAppStateDirLocked(t *testing.T) {
	dir := t.TempDir()
	cfg := runtime.Config{ApplicationID: "locked", BootstrapServers: []string{"127.0.0.1:1"}, StateDir: dir}
	a, err := runtime.New(wordCount(t, true), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runtime.New(wordCount(t, true), cfg)
	errorIs(t, err, runtime.ErrStateDirLocked)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := runtime.New(wordCount(t, true), cfg)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAppConfigErrors(t *testing.T) {
	for _, cfg := range []runtime.Config{
		{BootstrapServers: []string{"x:1"}},
		{ApplicationID: "x"},
		{ApplicationID: "../x", BootstrapServers: []string{"x:1"}},
		{ApplicationID: "x", BootstrapServers: []string{"x:1"}, StandbyReplicas: -1},
		{ApplicationID: "x", BootstrapServers: []string{"x:1"}, ProcessingGuarantee: 7},
	} {
		if _, err := runtime.New(wordCount(t, true), cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
