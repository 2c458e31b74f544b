package dsl_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// TestWindowedCountOnBroker runs a windowed count emitting final results end to end:
// the bundled broker, the runtime on Kafka, records with their own timestamps, and the
// final count of each closed one-minute window read back from the output topic. The
// window still open at the end is not emitted.
func TestWindowedCountOnBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	br, err := broker.New(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: quiet, GroupInitialRebalanceDelay: -1, GroupMinSessionTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = br.Close() })

	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("view-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, "views", "view-counts"); err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_040_000) // a whole minute
	views := []struct {
		page string
		at   time.Duration
	}{{"/home", time.Second}, {"/home", 30 * time.Second}, {"/docs", 40 * time.Second}, {"/home", 61 * time.Second}, {"/docs", 3 * time.Minute}}
	var recs []*kgo.Record
	for _, v := range views {
		recs = append(recs, &kgo.Record{Topic: "views", Key: []byte(v.page), Value: []byte("u"), Timestamp: base.Add(v.at)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	b := dsl.NewBuilder()
	b.Stream("views", strs).GroupByKey().
		WindowedBy(dsl.TimeWindowsOf(time.Minute)).
		Count(dsl.Materialized[string, int64]{Name: "views-per-minute"}, dsl.EmitOnWindowClose()).
		ToStream().To("view-counts")
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := runtime.New(top, runtime.Config{ApplicationID: "pageviews", BootstrapServers: []string{br.Addr()}, StateDir: t.TempDir(),
		CommitInterval: 100 * time.Millisecond, Logger: quiet, ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	defer func() {
		stop()
		if err := app.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
		<-done
	}()

	keys, values := serde.TimeWindowedKey(serde.String(), time.Minute.Milliseconds()), serde.Nullable(serde.Int64())
	m := base.UnixMilli()
	want := []string{
		fmt.Sprintf("/docs@%d=1", m), fmt.Sprintf("/home@%d=2", m), fmt.Sprintf("/home@%d=1", m+60_000),
	}
	var got []string
	for len(got) < len(want) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %q, want %q", got, want)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			w, err := keys.Decode(r.Key)
			if err != nil {
				t.Fatal(err)
			}
			v, err := values.Decode(r.Value)
			if err != nil || v == nil {
				t.Fatalf("value %x: %v", r.Value, err)
			}
			got = append(got, fmt.Sprintf("%s@%d=%d", w.Key, w.Start, *v))
		})
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Nothing more: the window of the last view is still open.
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if extra := cl.PollFetches(short).NumRecords(); extra != 0 {
		t.Fatalf("%d more records after the final results", extra)
	}
}
