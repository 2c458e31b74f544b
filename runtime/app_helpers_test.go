package runtime_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// appTestTimeout bounds every wait of the application tests.
const appTestTimeout = 20 * time.Second

// onBrokers runs fn as a parallel subtest against the bundled broker and against
// franz-go's kfake, each started fresh on 127.0.0.1.
func onBrokers(t *testing.T, fn func(t *testing.T, addr string)) {
	t.Run("bundled", func(t *testing.T) {
		t.Parallel()
		b, err := broker.New(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1, GroupMinSessionTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		fn(t, b.Addr())
	})
	t.Run("kfake", func(t *testing.T) {
		t.Parallel()
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		fn(t, c.ListenAddrs()[0])
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), appTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

func adminClient(t *testing.T, addr string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	resp, err := adminClient(t, addr).CreateTopic(testCtx(t), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// produce writes values (keyed by their index) to topic and waits for the acks.
func produce(t *testing.T, addr, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Key: []byte(strings.Repeat("k", i%7+1)), Value: []byte(v)}
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// wordCount returns the DSL word count: lines to words, grouped by word, counted in
// store "counts", written to topic "word-counts".
func wordCount(t *testing.T, inMemory bool) *runtime.Topology {
	t.Helper()
	b := dsl.NewBuilder()
	b.Stream("lines", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		FlatMapValues(func(line string) []string { return strings.Fields(line) }).
		GroupBy(func(_, word string) string { return word }).
		Count(dsl.Materialized[string, int64]{Name: "counts", InMemory: inMemory}).
		ToStream().
		To("word-counts")
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// expectedCounts counts the words of lines.
func expectedCounts(lines ...string) map[string]int64 {
	out := map[string]int64{}
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			out[w]++
		}
	}
	return out
}

// waitCounts reads topic from the start until the latest count of every word equals
// want, failing after appTestTimeout with what it saw.
func waitCounts(t *testing.T, addr, topic string, want map[string]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	values := serde.Nullable(serde.Int64())
	got := map[string]int64{}
	for !maps.Equal(got, want) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("counts in %s:\n got %v\nwant %v", topic, got, want)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			v, err := values.Decode(r.Value)
			if err != nil {
				t.Errorf("decode %q: %v", r.Value, err)
				return
			}
			if v == nil {
				delete(got, string(r.Key))
			} else {
				got[string(r.Key)] = *v
			}
		})
	}
}

// appConfig is a test application's configuration: a short commit interval, and
// logs on stderr at debug level when EDDY_APP_LOG is set with -v, else errors only.
func appConfig(t *testing.T, addr, appID, stateDir string) runtime.Config {
	level := slog.LevelError
	if testing.Verbose() && os.Getenv("EDDY_APP_LOG") != "" {
		level = slog.LevelDebug
	}
	return runtime.Config{
		ApplicationID:    appID,
		BootstrapServers: []string{addr},
		StateDir:         stateDir,
		CommitInterval:   100 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		// Members notice rebalances within a heartbeat: keep it short so tests do not
		// wait for the default 3s.
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)},
	}
}

// running is an App whose Run goroutine reports its result.
type running struct {
	app  *runtime.App
	done chan error
}

// startApp creates and runs an application; the test's cleanup closes it.
func startApp(t *testing.T, top *runtime.Topology, cfg runtime.Config) *running {
	t.Helper()
	app, err := runtime.New(top, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{app: app, done: make(chan error, 1)}
	go func() {
		err := app.Run(context.Background())
		if err != nil {
			cfg.Logger.Info("Run returned", "err", err)
		}
		r.done <- err
	}()
	t.Cleanup(func() { _ = r.close(t) })
	return r
}

// close closes the app and returns what Run returned.
func (r *running) close(t *testing.T) error {
	if err := r.app.Close(testCtx(t)); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-r.done:
		r.done <- err // later calls see it too
		return err
	case <-time.After(appTestTimeout):
		t.Fatal("Run did not return after Close")
		return nil
	}
}

// wait returns what Run returned, failing if it keeps running.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(appTestTimeout):
		t.Fatal("Run did not return")
		return nil
	}
}

// waitMembersWithWork waits until group is stable with n members, each assigned
// partitions of topic.
func waitMembersWithWork(t *testing.T, addr, group, topic string, n int) {
	t.Helper()
	adm := adminClient(t, addr)
	ctx := testCtx(t)
	for {
		groups, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			g := groups[group]
			working := 0
			for _, m := range g.Members {
				if c, ok := m.Assigned.AsConsumer(); ok && slices.ContainsFunc(c.Topics, func(at kmsg.ConsumerMemberAssignmentTopic) bool {
					return at.Topic == topic && len(at.Partitions) > 0
				}) {
					working++
				}
			}
			if g.State == "Stable" && len(g.Members) == n && working == n {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never had %d members reading %s", group, n, topic)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitCaughtUp waits until group has committed the end offset of every non-empty
// partition of topics.
func waitCaughtUp(t *testing.T, addr, group string, topics ...string) {
	t.Helper()
	adm := adminClient(t, addr)
	ctx := testCtx(t)
	for {
		committed, err1 := adm.FetchOffsets(ctx, group)
		ends, err2 := adm.ListEndOffsets(ctx, topics...)
		behind := err1 != nil || err2 != nil
		ends.Each(func(o kadm.ListedOffset) {
			if c, ok := committed.Lookup(o.Topic, o.Partition); o.Offset > 0 && (!ok || c.At != o.Offset) {
				behind = true
			}
		})
		if !behind {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never caught up with %v", group, topics)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errorIs fails unless err wraps target.
func errorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}
