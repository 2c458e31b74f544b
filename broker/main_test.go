package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// childDirEnv, when set, makes the test binary run as a broker on that data directory
// instead of running tests. The crash tests re-exec the binary this way so that they can
// SIGKILL a real broker process without losing the test process.
const childDirEnv = "EDDY_TEST_CHILD_BROKER_DIR"

// childAddrPrefix starts the line on which a child broker reports its address.
const childAddrPrefix = "broker-addr "

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if err := runChildBroker(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child broker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChildBroker serves dir with the durable fsync policy until its stdin closes (the
// parent asks it to stop, or died) or it gets SIGTERM, then closes cleanly.
func runChildBroker(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	b, err := New(Config{
		DataDir:                    dir,
		Listen:                     "127.0.0.1:0",
		Fsync:                      "always",
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		b.Close()
		return err
	}
	fmt.Printf("%s%s\n", childAddrPrefix, b.Addr())
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	return b.Close()
}

// addrClient returns a franz-go client for the broker at addr, closed when the test ends.
func addrClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// endOffsets returns the high watermark of every partition of topic.
func endOffsets(t testing.TB, addr, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(addrClient(t, addr)).ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends
}

// committedOffsets returns the offsets group has committed for topic.
func committedOffsets(t testing.TB, addr, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(addrClient(t, addr)).FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	got := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			got[o.Partition] = o.At
		}
	})
	return got
}

// consumeToEnd reads every record of topic from the start up to the end offsets it has when
// called, failing the test if that takes longer than d.
func consumeToEnd(t testing.TB, addr, topic string, d time.Duration) []*kgo.Record {
	t.Helper()
	ends := endOffsets(t, addr, topic)
	left := 0
	for _, end := range ends {
		if end > 0 {
			left++
		}
	}
	cl := addrClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var recs []*kgo.Record
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d records after %v, want up to offsets %v", topic, len(recs), d, ends)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("consume %s[%d]: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return
			}
			recs = append(recs, r)
			if r.Offset == ends[r.Partition]-1 {
				left--
			}
		})
	}
	return recs
}
