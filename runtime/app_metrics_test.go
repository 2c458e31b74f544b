package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// startBundledBroker starts the bundled broker for a test that needs no second broker.
func startBundledBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", GroupInitialRebalanceDelay: -1, GroupMinSessionTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.Addr()
}

// metricSample is one series of a gathered metric: its labels and its value (a
// histogram's sample count).
type metricSample struct {
	labels map[string]string
	value  float64
}

// gatherMetric returns the series of metric name in reg.
func gatherMetric(t *testing.T, reg *prometheus.Registry, name string) []metricSample {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []metricSample
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			s := metricSample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			out = append(out, s)
		}
	}
	return out
}

// sumMetric adds the values of the samples whose labels have the given prefixes.
func sumMetric(samples []metricSample, prefixes map[string]string) (total float64, n int) {
	for _, s := range samples {
		ok := true
		for k, p := range prefixes {
			if !strings.HasPrefix(s.labels[k], p) {
				ok = false
			}
		}
		if ok {
			total += s.value
			n++
		}
	}
	return total, n
}

// retryUntil retries check until it returns nil, failing with its last error after
// appTestTimeout.
func retryUntil(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(appTestTimeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// poisonWordCount is the word count of wordCount with a value serde that refuses the
// line "poison".
func poisonWordCount(t *testing.T) *runtime.Topology {
	t.Helper()
	strict := serde.Funcs[string]{
		EncodeFunc: serde.String().Encode,
		DecodeFunc: func(b []byte) (string, error) {
			if string(b) == "poison" {
				return "", fmt.Errorf("%w: poison", serde.ErrDecode)
			}
			return string(b), nil
		},
	}
	b := dsl.NewBuilder()
	b.Stream("lines", dsl.Consumed[string, string]{Keys: serde.String(), Values: strict}).
		FlatMapValues(func(line string) []string { return strings.Fields(line) }).
		GroupBy(func(_, word string) string { return word }).
		Count(dsl.Materialized[string, int64]{Name: "counts"}).
		ToStream().
		To("word-counts")
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// After a word count, the registry tells what happened: records processed per
// sub-topology, the poison record dropped, commits timed, lag caught up, the state;
// Close takes the metrics away, and a second App on the same registry restores the
// changelog in sight of the restore metrics.
func TestAppMetrics(t *testing.T) {
	addr := startBundledBroker(t)
	createTopic(t, addr, "lines", 3)
	createTopic(t, addr, "word-counts", 1)
	in := lines(0, 40)
	produce(t, addr, "lines", append(in[:20:20], append([]string{"poison"}, in[20:]...)...)...)
	words := 0
	for _, l := range in {
		words += len(strings.Fields(l))
	}
	reg := prometheus.NewRegistry()
	cfg := appConfig(t, addr, "wcm", t.TempDir())
	cfg.Registerer = reg
	cfg.OnDeserializationError = runtime.ContinueOnError
	r := startApp(t, poisonWordCount(t), cfg)
	waitCounts(t, addr, "word-counts", expectedCounts(in...))

	retryUntil(t, func() error {
		processed := gatherMetric(t, reg, "eddy_task_processed_records_total")
		if got, n := sumMetric(processed, map[string]string{"task": "0_"}); got != float64(len(in)) || n != 3 {
			return fmt.Errorf("sub-topology 0 processed %v records in %d tasks, want %d in 3", got, n, len(in))
		}
		if got, _ := sumMetric(processed, map[string]string{"task": "1_"}); got != float64(words) {
			return fmt.Errorf("sub-topology 1 processed %v records, want %d words", got, words)
		}
		dropped := gatherMetric(t, reg, "eddy_task_dropped_records_total")
		if got, _ := sumMetric(dropped, map[string]string{"reason": "deserialization"}); got != 1 {
			return fmt.Errorf("%v records dropped for deserialization, want 1", got)
		}
		if got, _ := sumMetric(dropped, nil); got != 1 {
			return fmt.Errorf("%v records dropped in all, want 1", got)
		}
		if got, n := sumMetric(dropped, map[string]string{"reason": "late"}); got != 0 || n != 6 {
			return fmt.Errorf("%v records dropped late in %d series, want 0 in one per task (6)", got, n)
		}
		if got, _ := sumMetric(gatherMetric(t, reg, "eddy_task_process_latency_seconds"), map[string]string{"task": "0_"}); got != float64(len(in)+1) {
			return fmt.Errorf("%v process latencies observed in sub-topology 0, want %d", got, len(in)+1)
		}
		if got, n := sumMetric(gatherMetric(t, reg, "eddy_thread_commit_latency_seconds"), map[string]string{"application_id": "wcm", "thread": "wcm-1"}); n != 1 || got == 0 {
			return fmt.Errorf("%v commits timed in %d series, want some in 1", got, n)
		}
		lag := gatherMetric(t, reg, "eddy_consumer_lag_records")
		if got, n := sumMetric(lag, map[string]string{"topic": "lines"}); got != 0 || n != 3 {
			return fmt.Errorf("lag %v over %d partitions of lines, want 0 over 3", got, n)
		}
		if got, _ := sumMetric(lag, nil); got != 0 {
			return fmt.Errorf("total lag %v, want 0", got)
		}
		states := gatherMetric(t, reg, "eddy_app_state")
		if got, _ := sumMetric(states, map[string]string{"state": "RUNNING"}); got != 1 || len(states) != 6 {
			return fmt.Errorf("state series %v, want RUNNING set among 6", states)
		}
		if got, _ := sumMetric(states, nil); got != 1 {
			return fmt.Errorf("%v states set, want 1", got)
		}
		return nil
	})
	if err := r.close(t); err != nil {
		t.Fatal(err)
	}
	if families, err := reg.Gather(); err != nil || len(families) != 0 {
		t.Fatalf("after Close the registry holds %d families (%v), want none", len(families), err)
	}

	// A new instance on an empty state directory restores the whole changelog.
	ends := changelogEnds(t, adminClient(t, addr), "wcm-counts-changelog")
	var changelog int64
	nonEmpty := 0
	for _, end := range ends {
		changelog += end
		if end > 0 {
			nonEmpty++
		}
	}
	if changelog == 0 {
		t.Fatal("the first instance wrote no changelog")
	}
	cfg = appConfig(t, addr, "wcm", t.TempDir())
	cfg.Registerer = reg
	cfg.OnDeserializationError = runtime.ContinueOnError
	startApp(t, poisonWordCount(t), cfg)
	retryUntil(t, func() error {
		if got, n := sumMetric(gatherMetric(t, reg, "eddy_task_restored_records_total"), map[string]string{"task": "1_", "store": "counts"}); got != float64(changelog) || n != nonEmpty {
			return fmt.Errorf("restored %v records in %d series, want %d in %d", got, n, changelog, nonEmpty)
		}
		if got, _ := sumMetric(gatherMetric(t, reg, "eddy_task_restore_remaining_records"), nil); got != 0 {
			return fmt.Errorf("%v records left to restore, want 0", got)
		}
		return nil
	})
}

// Applications with different IDs share a registry; a second instance of the same
// application on it fails to run, saying why.
func TestAppMetricsRegistration(t *testing.T) {
	addr := startBundledBroker(t)
	createTopic(t, addr, "lines", 1)
	createTopic(t, addr, "word-counts", 1)
	reg := prometheus.NewRegistry()
	start := func(appID string) *running {
		cfg := appConfig(t, addr, appID, t.TempDir())
		cfg.Registerer = reg
		return startApp(t, wordCount(t, true), cfg)
	}
	waitRunning := func(r *running) {
		t.Helper()
		retryUntil(t, func() error {
			if s := r.app.State(); s != runtime.StateRunning {
				return fmt.Errorf("state %v, want RUNNING", s)
			}
			return nil
		})
	}
	first := start("reg")
	waitRunning(first)
	other := start("reg-other")
	waitRunning(other)
	apps := map[string]bool{}
	for _, s := range gatherMetric(t, reg, "eddy_app_state") {
		apps[s.labels["application_id"]] = true
	}
	if !apps["reg"] || !apps["reg-other"] || len(apps) != 2 {
		t.Errorf("state series of applications %v, want reg and reg-other", apps)
	}

	err := start("reg").wait(t)
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) || !strings.Contains(err.Error(), "register metrics") {
		t.Fatalf("second instance of reg: Run returned %v, want an AlreadyRegisteredError", err)
	}
	if s := first.app.State(); s != runtime.StateRunning {
		t.Errorf("first instance in state %v after the second failed, want RUNNING", s)
	}
}
