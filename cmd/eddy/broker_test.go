package main

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
)

// runCmd runs `eddy <args>` with a broker command that records its config instead of
// starting a broker.
func runCmd(t *testing.T, args ...string) (broker.Config, bool, error) {
	t.Helper()
	var got broker.Config
	ran := false
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "broker" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newBrokerCmd(func(_ context.Context, cfg broker.Config) error {
		got, ran = cfg, true
		return nil
	}))
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	err := root.ExecuteContext(context.Background())
	return got, ran, err
}

func TestBrokerCmdFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want broker.Config
	}{{
		name: "defaults",
		args: []string{"broker", "--data-dir", "/d"},
		want: broker.Config{DataDir: "/d", Listen: "127.0.0.1:9092", NodeID: 1, DefaultPartitions: 1, Fsync: "always", FsyncInterval: time.Second},
	}, {
		name: "every flag",
		args: []string{"broker", "--data-dir=/x", "--listen", "0.0.0.0:19092", "--advertised-addr", "kafka.local:19092",
			"--fsync", "interval", "--fsync-interval", "250ms", "--auto-create-topics", "--default-partitions", "6",
			"--node-id", "7", "--log-level", "debug"},
		want: broker.Config{DataDir: "/x", Listen: "0.0.0.0:19092", AdvertisedAddr: "kafka.local:19092", NodeID: 7,
			AutoCreateTopics: true, DefaultPartitions: 6, Fsync: "interval", FsyncInterval: 250 * time.Millisecond},
	}, {
		name: "fsync os",
		args: []string{"broker", "--data-dir", "/d", "--fsync", "os", "--log-level", "ERROR"},
		want: broker.Config{DataDir: "/d", Listen: "127.0.0.1:9092", NodeID: 1, DefaultPartitions: 1, Fsync: "os", FsyncInterval: time.Second},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ran, err := runCmd(t, tt.args...)
			if err != nil || !ran {
				t.Fatalf("ran=%v err=%v", ran, err)
			}
			if got.Logger == nil {
				t.Fatal("no logger")
			}
			got.Logger = nil
			if got != tt.want {
				t.Fatalf("config\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestBrokerCmdLogLevel(t *testing.T) {
	got, _, err := runCmd(t, "broker", "--data-dir", "/d", "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got.Logger.Enabled(ctx, slog.LevelInfo) || !got.Logger.Enabled(ctx, slog.LevelWarn) {
		t.Fatal("--log-level warn: want warn enabled and info disabled")
	}
}

func TestBrokerCmdBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // part of the error
	}{
		{"no data dir", []string{"broker"}, `"data-dir" not set`},
		{"unknown flag", []string{"broker", "--data-dir", "/d", "--bogus"}, "unknown flag: --bogus"},
		{"bad fsync", []string{"broker", "--data-dir", "/d", "--fsync", "sometimes"}, "--fsync"},
		{"bad interval", []string{"broker", "--data-dir", "/d", "--fsync-interval", "soon"}, "fsync-interval"},
		{"zero interval", []string{"broker", "--data-dir", "/d", "--fsync-interval", "0s"}, "--fsync-interval"},
		{"zero partitions", []string{"broker", "--data-dir", "/d", "--default-partitions", "0"}, "--default-partitions"},
		{"partitions not a number", []string{"broker", "--data-dir", "/d", "--default-partitions", "many"}, "default-partitions"},
		{"negative node", []string{"broker", "--data-dir", "/d", "--node-id", "-3"}, "--node-id"},
		{"bad log level", []string{"broker", "--data-dir", "/d", "--log-level", "loud"}, "--log-level"},
		{"extra argument", []string{"broker", "--data-dir", "/d", "now"}, "unknown command"},
		{"unknown command", []string{"brokr"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ran, err := runCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if ran {
				t.Fatal("the broker ran despite the bad flags")
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while the broker logs into it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestBrokerCmdServes runs the real command: the broker serves clients, and ending the
// command's context (as a signal does) closes it gracefully; a restart on the same data
// directory still has the topic.
func TestBrokerCmdServes(t *testing.T) {
	dir := t.TempDir()
	serve := func(check func(addr string)) {
		var stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		root := newRootCmd()
		root.SetArgs([]string{"broker", "--data-dir", dir, "--listen", "127.0.0.1:0", "--fsync", "os"})
		root.SetErr(&stderr)
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()

		listening := regexp.MustCompile(`msg="broker listening" addr=(\S+)`)
		deadline := time.Now().Add(10 * time.Second)
		var addr string
		for addr == "" {
			if m := listening.FindStringSubmatch(stderr.String()); m != nil {
				addr = m[1]
				break
			}
			select {
			case err := <-done:
				t.Fatalf("command ended before listening: %v\n%s", err, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker did not log its address:\n%s", stderr.String())
			}
		}
		check(addr)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("command: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("command did not end after its context")
		}
		if !strings.Contains(stderr.String(), "broker closed") {
			t.Fatalf("no graceful close in the log:\n%s", stderr.String())
		}
	}
	admin := func(addr string) *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}
	serve(func(addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := admin(addr).CreateTopic(ctx, 2, 1, nil, "cmd-topic")
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic: %v", err)
		}
	})
	serve(func(addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		topics, err := admin(addr).ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		if d, ok := topics["cmd-topic"]; !ok || len(d.Partitions) != 2 {
			t.Fatalf("after restart: topics %v", topics.Names())
		}
	})
}
