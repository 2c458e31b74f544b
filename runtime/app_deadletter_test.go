package runtime_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// headerMap returns headers by key, the last value winning.
func headerMap(hs []runtime.Header) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		out[h.Key] = string(h.Value)
	}
	return out
}

// checkHeaders fails unless got holds every key of want with its value.
func checkHeaders(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q (headers %v)", k, got[k], v, got)
		}
	}
}

// checkedNumbers reads int64 values from "numbers", fails negative ones in processor
// "check" and writes the others to "out".
func checkedNumbers(t *testing.T) *runtime.Topology {
	t.Helper()
	top := runtime.NewTopology()
	if err := top.AddSource("numbers", runtime.SourceConfig[string, int64]{Topics: []string{"numbers"}, Keys: serde.String(), Values: serde.Int64()}); err != nil {
		t.Fatal(err)
	}
	check := runtime.ProcessorFunc[string, int64, string, int64](func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, int64]) error {
		if r.Value < 0 {
			return errors.New("negative number")
		}
		return ctx.Forward(r)
	}).Supplier()
	if err := top.AddProcessor("check", check, "numbers"); err != nil {
		t.Fatal(err)
	}
	if err := top.AddSink("out", runtime.SinkConfig[string, int64]{Topic: "out", Keys: serde.String(), Values: serde.Int64()}, "check"); err != nil {
		t.Fatal(err)
	}
	return top
}

// A record that fails to decode and one that fails to process both land in the
// dead-letter topic, as they were read, with headers saying where from and why; the
// good record goes on.
func TestSendToDeadLetterTopicDriver(t *testing.T) {
	d, err := testdriver.New(checkedNumbers(t), testdriver.Config{
		OnDeserializationError: runtime.SendToDeadLetterTopic("dlq"),
		OnProcessingError:      runtime.SendToDeadLetterTopic("dlq"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in, err := d.CreateInputTopic("numbers", serde.String(), serde.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	negative, _ := serde.Int64().Encode(-1)
	five, _ := serde.Int64().Encode(5)
	for _, r := range []runtime.Record[string, []byte]{
		{Key: "a", Value: []byte("bad"), Timestamp: 10, Headers: []runtime.Header{{Key: "trace", Value: []byte("t1")}}},
		{Key: "b", Value: negative, Timestamp: 11},
		{Key: "c", Value: five, Timestamp: 12},
	} {
		if err := in.PipeRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	out, err := d.CreateOutputTopic("out", serde.String(), serde.Int64())
	if err != nil {
		t.Fatal(err)
	}
	if kvs, err := out.ReadKeyValuesToList(); err != nil || len(kvs) != 1 || kvs[0].Key != "c" || kvs[0].Value != 5 {
		t.Fatalf("out: %v, %v; want c=5 only", kvs, err)
	}
	dlq, err := d.CreateOutputTopic("dlq", serde.String(), serde.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := dlq.ReadRecordsToList()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("dead-letter topic holds %d records, want 2: %v", len(recs), recs)
	}
	bad, neg := recs[0], recs[1]
	if bad.Key != "a" || string(bad.Value) != "bad" || bad.Timestamp != 10 {
		t.Errorf("first dead letter %+v, want the undecodable record as read", bad)
	}
	h := headerMap(bad.Headers)
	checkHeaders(t, h, map[string]string{
		"trace":                           "t1",
		runtime.DeadLetterHeaderException: "deserialization",
		runtime.DeadLetterHeaderTopic:     "numbers",
		runtime.DeadLetterHeaderPartition: "0",
		runtime.DeadLetterHeaderOffset:    "0",
		runtime.DeadLetterHeaderTask:      "0_0",
	})
	if node, ok := h[runtime.DeadLetterHeaderNode]; ok {
		t.Errorf("a deserialization failure names node %q", node)
	}
	if !strings.Contains(h[runtime.DeadLetterHeaderMessage], "deserialization failed") {
		t.Errorf("message header %q does not say what failed", h[runtime.DeadLetterHeaderMessage])
	}
	if neg.Key != "b" || string(neg.Value) != string(negative) {
		t.Errorf("second dead letter %+v, want the negative number's bytes", neg)
	}
	h = headerMap(neg.Headers)
	checkHeaders(t, h, map[string]string{
		runtime.DeadLetterHeaderException: "processing",
		runtime.DeadLetterHeaderOffset:    "1",
		runtime.DeadLetterHeaderNode:      "check",
	})
	if !strings.Contains(h[runtime.DeadLetterHeaderMessage], "negative number") {
		t.Errorf("message header %q lacks the processor's error", h[runtime.DeadLetterHeaderMessage])
	}
}

// When there is nothing to send, or nowhere to send it, the handler says what to do
// without sending.
func TestSendToDeadLetterTopicVerdicts(t *testing.T) {
	var sent []runtime.ProducedRecord
	collect := runtime.RecordCollectorFunc(func(r runtime.ProducedRecord) error {
		sent = append(sent, r)
		return nil
	})
	failing := runtime.RecordCollectorFunc(func(runtime.ProducedRecord) error { return errors.New("producer down") })
	rec := &runtime.ConsumedRecord{Topic: "in", Key: []byte("k"), Value: []byte("v")}
	for _, tc := range []struct {
		name  string
		topic string
		ec    runtime.ErrorContext
		want  runtime.ErrorAction
		sends int
	}{
		{"record", "dlq", runtime.ErrorContext{Record: rec, Output: collect}, runtime.ActionContinue, 1},
		{"punctuation", "dlq", runtime.ErrorContext{Punctuation: true, Output: collect}, runtime.ActionContinue, 0},
		{"no topic", "", runtime.ErrorContext{Record: rec, Output: collect}, runtime.ActionFail, 0},
		{"no output", "dlq", runtime.ErrorContext{Record: rec}, runtime.ActionFail, 0},
		{"output failed", "dlq", runtime.ErrorContext{Record: rec, Output: failing}, runtime.ActionFail, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent = nil
			if got := runtime.SendToDeadLetterTopic(tc.topic)(tc.ec, errors.New("boom")); got != tc.want {
				t.Errorf("action %v, want %v", got, tc.want)
			}
			if len(sent) != tc.sends {
				t.Errorf("sent %d records, want %d", len(sent), tc.sends)
			}
		})
	}
}

// On a broker, the poison record lands in the dead-letter topic with its headers and
// the rest is processed.
func TestAppDeadLetter(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "numbers", 1)
		createTopic(t, addr, "out", 1)
		createTopic(t, addr, "numbers-dlq", 1)
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("numbers"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		seven, _ := serde.Int64().Encode(7)
		eight, _ := serde.Int64().Encode(8)
		if err := cl.ProduceSync(testCtx(t),
			&kgo.Record{Key: []byte("a"), Value: seven},
			&kgo.Record{Key: []byte("poison"), Value: []byte("bad"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}},
			&kgo.Record{Key: []byte("b"), Value: eight},
		).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cfg := appConfig(t, addr, "dlq", t.TempDir())
		cfg.OnDeserializationError = runtime.SendToDeadLetterTopic("numbers-dlq")
		startApp(t, numbers(t), cfg)
		waitCounts(t, addr, "out", map[string]int64{"a": 7, "b": 8})

		dl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("numbers-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer dl.Close()
		ctx := testCtx(t)
		var got []*kgo.Record
		for len(got) == 0 {
			fetches := dl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatal("nothing in the dead-letter topic")
			}
			got = append(got, fetches.Records()...)
		}
		r := got[0]
		if len(got) != 1 || string(r.Key) != "poison" || string(r.Value) != "bad" {
			t.Fatalf("dead-letter records %v, want the poison record only", got)
		}
		hs := make([]runtime.Header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = runtime.Header{Key: h.Key, Value: h.Value}
		}
		checkHeaders(t, headerMap(hs), map[string]string{
			"trace":                           "t1",
			runtime.DeadLetterHeaderException: "deserialization",
			runtime.DeadLetterHeaderTopic:     "numbers",
			runtime.DeadLetterHeaderPartition: "0",
			runtime.DeadLetterHeaderOffset:    "1",
			runtime.DeadLetterHeaderTask:      "0_0",
		})
	})
}
