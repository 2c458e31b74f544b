package dsl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
)

// joinBrokerTimeout bounds every wait of the end-to-end join tests.
const joinBrokerTimeout = 30 * time.Second

// joinBroker starts the bundled broker on 127.0.0.1 with the given topics and
// partition counts, and returns its address.
func joinBroker(t *testing.T, topics map[string]int32) string {
	t.Helper()
	b, err := broker.New(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1, GroupMinSessionTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), joinBrokerTimeout)
	defer cancel()
	for topic, n := range topics {
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, n, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	return b.Addr()
}

func joinAppConfig(addr, appID, stateDir string) runtime.Config {
	return runtime.Config{
		ApplicationID:    appID,
		BootstrapServers: []string{addr},
		StateDir:         stateDir,
		CommitInterval:   100 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		ClientOptions:    []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)},
	}
}

// clickViewJoin joins "views" with "clicks" within a minute, to "joined".
func clickViewJoin(t *testing.T) *runtime.Topology {
	t.Helper()
	b := dsl.NewBuilder()
	b.Stream("views", strs).
		Join(b.Stream("clicks", strs), joinValues, dsl.JoinWindowsOf(time.Minute).Grace(time.Minute),
			dsl.StreamJoined[string, string, string]{StoreName: "views-clicks"}).
		To("joined")
	return mustBuild(t, b)
}

// TestStreamJoinOnBroker runs a stream-stream join end to end on the bundled broker:
// both inputs with two partitions, every pair of one key within the window joined
// exactly once whatever order the tasks read them in.
func TestStreamJoinOnBroker(t *testing.T) {
	addr := joinBroker(t, map[string]int32{"views": 2, "clicks": 2, "joined": 2})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), joinBrokerTimeout)
	defer cancel()
	base := time.Now().Add(-time.Hour)
	var recs []*kgo.Record
	want := map[string]bool{}
	for i := range 20 {
		key := fmt.Sprintf("user-%d", i)
		ts := base.Add(time.Duration(i) * time.Second)
		recs = append(recs,
			&kgo.Record{Topic: "views", Key: []byte(key), Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: ts},
			&kgo.Record{Topic: "clicks", Key: []byte(key), Value: []byte(fmt.Sprintf("c%d", i)), Timestamp: ts.Add(10 * time.Second)})
		want[fmt.Sprintf("%s=v%d+c%d", key, i, i)] = true
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	app, err := runtime.New(clickViewJoin(t), joinAppConfig(addr, "join-e2e", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()
	defer func() {
		if err := app.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	out, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("joined"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	got := map[string]bool{}
	for !maps.Equal(got, want) {
		fetches := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("joined: got %d of %d results: %v", len(got), len(want), got)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			k := fmt.Sprintf("%s=%s", r.Key, r.Value)
			if got[k] || !want[k] {
				t.Errorf("unexpected or repeated result %s", k)
			}
			got[k] = true
		})
	}
}

// TestStreamJoinCopartitioning checks that a join of topics with different partition
// counts fails to start with runtime.ErrCopartitioning: the join puts both sources in
// one sub-topology, whose source topics the runtime requires to be co-partitioned.
func TestStreamJoinCopartitioning(t *testing.T) {
	addr := joinBroker(t, map[string]int32{"views": 2, "clicks": 3, "joined": 1})
	app, err := runtime.New(clickViewJoin(t), joinAppConfig(addr, "join-copart", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), joinBrokerTimeout)
	defer cancel()
	if err := app.Run(ctx); !errors.Is(err, runtime.ErrCopartitioning) {
		t.Fatalf("Run: got %v, want ErrCopartitioning", err)
	}
}
