package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readPartition0 reads partition 0 of topic from the start through offset last
// and returns the records.
func readPartition0(t *testing.T, b *Broker, topic string, last int64) []*kgo.Record {
	t.Helper()
	cl := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	ctx := testCtx(t, 10*time.Second)
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < last {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read up to offset %d of %d before timeout", topic, len(out), last)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestCompactedTopics produces rounds of values for ten keys and tombstones for two
// of them into compacted topics with small segments, then waits for the cleaner: a
// consumer from offset 0 must find each key's latest record once, at the offset it was
// produced at, and the tombstones only while delete.retention.ms has not passed. Every
// read while waiting, so while the cleaner works, must be consistent.
func TestCompactedTopics(t *testing.T) {
	b := startBroker(t, Config{CleanerInterval: 50 * time.Millisecond})
	for _, tc := range []struct {
		topic, policy, deleteRetention string
		keepTombstones                 bool
	}{
		{"compact-tombstones-gone", "compact", "0", false},
		{"compact-tombstones-kept", "compact,delete", "3600000", true},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			createTopic(t, b, tc.topic, 1, map[string]*string{
				"cleanup.policy":            ptr(tc.policy),
				"segment.bytes":             ptr("1024"),
				"min.cleanable.dirty.ratio": ptr("0.01"),
				"delete.retention.ms":       ptr(tc.deleteRetention),
			})
			prod := newClient(t, b, kgo.DefaultProduceTopic(tc.topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			ctx := testCtx(t, 20*time.Second)
			produced := map[int64]*kgo.Record{}
			produce := func(recs ...*kgo.Record) {
				t.Helper()
				res := prod.ProduceSync(ctx, recs...)
				if err := res.FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				for _, r := range res {
					produced[r.Record.Offset] = r.Record
				}
			}
			for round := range 10 {
				var recs []*kgo.Record
				for k := range 10 {
					recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "round %d", round)})
				}
				produce(recs...)
			}
			produce(&kgo.Record{Key: []byte("k3")}, &kgo.Record{Key: []byte("k7")})
			// Large records with keys of their own push everything above into
			// closed segments, which are the only ones the cleaner touches.
			for i := range 4 {
				produce(&kgo.Record{Key: fmt.Appendf(nil, "filler%d", i), Value: make([]byte, 1200)})
			}
			last := int64(len(produced) - 1)

			want := map[string]string{}
			for k := range 10 {
				want[fmt.Sprintf("k%d", k)] = "round 9"
			}
			delete(want, "k3")
			delete(want, "k7")
			deadline := time.Now().Add(10 * time.Second)
			for {
				recs := readPartition0(t, b, tc.topic, last)
				byKey := map[string][]*kgo.Record{}
				prev := int64(-1)
				for _, r := range recs {
					p := produced[r.Offset]
					if r.Offset <= prev || p == nil || string(p.Key) != string(r.Key) || string(p.Value) != string(r.Value) || (p.Value == nil) != (r.Value == nil) {
						t.Fatalf("offset %d (after %d): key %q value %q is not what was produced there", r.Offset, prev, r.Key, r.Value)
					}
					prev = r.Offset
					byKey[string(r.Key)] = append(byKey[string(r.Key)], r)
				}
				done := len(recs) < len(produced)
				for k := range 10 {
					key := fmt.Sprintf("k%d", k)
					rs := byKey[key]
					switch {
					case want[key] != "":
						done = done && len(rs) == 1 && string(rs[0].Value) == want[key]
					case tc.keepTombstones:
						done = done && len(rs) == 1 && rs[0].Value == nil
					default:
						done = done && len(rs) == 0
					}
				}
				for i := range 4 {
					if len(byKey[fmt.Sprintf("filler%d", i)]) != 1 {
						t.Fatalf("filler%d: %d records", i, len(byKey[fmt.Sprintf("filler%d", i)]))
					}
				}
				if done {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("not compacted after 10s: %d of %d records left", len(recs), len(produced))
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func TestCompactionLagConfigsChecked(t *testing.T) {
	b := startBroker(t, Config{})
	adm := kadm.NewClient(newClient(t, b))
	resps, err := adm.CreateTopics(testCtx(t, 10*time.Second), 1, 1, map[string]*string{
		"cleanup.policy":        ptr("compact"),
		"min.compaction.lag.ms": ptr("60000"),
		"max.compaction.lag.ms": ptr("1000"),
	}, "lags")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := resps.On("lags", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resp.Err, kerr.InvalidConfig) || !strings.Contains(resp.ErrMessage, "max.compaction.lag.ms") {
		t.Fatalf("min lag above max lag: %v (%s), want INVALID_CONFIG", resp.Err, resp.ErrMessage)
	}

	// Each key alone is valid; only the result of the incremental change is not.
	ctx := testCtx(t, 10*time.Second)
	createTopic(t, b, "lags2", 1, map[string]*string{"max.compaction.lag.ms": ptr("1000")})
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.compaction.lag.ms", Value: ptr("60000")}}, "lags2")
	if err != nil {
		t.Fatal(err)
	}
	if len(alter) != 1 || !errors.Is(alter[0].Err, kerr.InvalidConfig) {
		t.Fatalf("incremental alter to min lag above max lag answered %+v, want INVALID_CONFIG", alter)
	}
}
