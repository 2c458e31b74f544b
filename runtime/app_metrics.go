package runtime

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of eddy_task_dropped_records_total.
const (
	dropDeserialization  = "deserialization"
	dropProcessing       = "processing"
	dropInvalidTimestamp = "invalid_timestamp"
	dropUnknownPartition = "unknown_partition"
	dropProduction       = "production"
	dropLate             = "late"
)

// appMetrics are an application's Prometheus collectors, registered as one collector
// so that Close takes them all away. Counts a task keeps anyway (TaskMetrics) are read
// when scraped rather than mirrored, so processing a record costs no metric update
// beyond the optional latency observation.
type appMetrics struct {
	reg prometheus.Registerer

	state            *prometheus.GaugeVec     // state: 1 for the current one
	processLatency   *prometheus.HistogramVec // thread, task
	commitLatency    *prometheus.HistogramVec // thread
	restored         *prometheus.CounterVec   // thread, task, store
	restoreRemaining *prometheus.GaugeVec     // thread, task, store
	lag              *prometheus.GaugeVec     // thread, topic, partition
	processed        *prometheus.Desc         // thread, task
	dropped          *prometheus.Desc         // thread, task, reason

	mu         sync.Mutex
	registered bool
	tasks      map[*taskMetrics]struct{}
}

func newAppMetrics(appID string, reg prometheus.Registerer) *appMetrics {
	app := prometheus.Labels{"application_id": appID}
	m := &appMetrics{
		reg: reg,
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eddy_app_state", ConstLabels: app,
			Help: "1 for the instance's current state (CREATED, REBALANCING, RUNNING, PENDING_SHUTDOWN, NOT_RUNNING, ERROR), 0 for the others.",
		}, []string{"state"}),
		processLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eddy_task_process_latency_seconds", ConstLabels: app,
			Help:    "Time to process one record through the task's sub-topology.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1µs to 0.26s
		}, []string{"thread", "task"}),
		commitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eddy_thread_commit_latency_seconds", ConstLabels: app,
			Help:    "Time of a thread's commit: flushing stores and output, committing stores and offsets.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1ms to 8s
		}, []string{"thread"}),
		restored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eddy_task_restored_records_total", ConstLabels: app,
			Help: "Changelog records applied to a store while restoring it.",
		}, []string{"thread", "task", "store"}),
		restoreRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eddy_task_restore_remaining_records", ConstLabels: app,
			Help: "Changelog records a store still has to restore.",
		}, []string{"thread", "task", "store"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eddy_consumer_lag_records", ConstLabels: app,
			Help: "Records between a thread's fetch position and the partition's high watermark, as of its last fetch.",
		}, []string{"thread", "topic", "partition"}),
		processed: prometheus.NewDesc("eddy_task_processed_records_total",
			"Records the task processed through its sub-topology.", []string{"thread", "task"}, app),
		dropped: prometheus.NewDesc("eddy_task_dropped_records_total",
			"Records the task skipped, by reason: deserialization and processing (the error handler said continue or dead-lettered them), invalid_timestamp, unknown_partition, production (the broker refused them and the production handler said continue), late (a windowed aggregation or stream-stream join got them after their window closed).",
			[]string{"thread", "task", "reason"}, app),
		tasks: map[*taskMetrics]struct{}{},
	}
	for i := range appStateNames {
		m.state.WithLabelValues(appStateNames[i]).Set(0)
	}
	m.state.WithLabelValues(StateCreated.String()).Set(1)
	return m
}

// register adds the collectors to the registerer once.
func (m *appMetrics) register() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil || m.registered {
		return nil
	}
	if err := m.reg.Register(m); err != nil {
		return fmt.Errorf("runtime: register metrics: %w", err)
	}
	m.registered = true
	return nil
}

// unregister removes the collectors from the registerer, if register added them.
func (m *appMetrics) unregister() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.registered {
		m.reg.Unregister(m)
		m.registered = false
	}
}

// setState moves the state gauge from old to s.
func (m *appMetrics) setState(old, s AppState) {
	m.state.WithLabelValues(old.String()).Set(0)
	m.state.WithLabelValues(s.String()).Set(1)
}

// Describe implements prometheus.Collector.
func (m *appMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.state.Describe(ch)
	m.processLatency.Describe(ch)
	m.commitLatency.Describe(ch)
	m.restored.Describe(ch)
	m.restoreRemaining.Describe(ch)
	m.lag.Describe(ch)
	ch <- m.processed
	ch <- m.dropped
}

// Collect implements prometheus.Collector, reading the running tasks' counters.
func (m *appMetrics) Collect(ch chan<- prometheus.Metric) {
	m.state.Collect(ch)
	m.processLatency.Collect(ch)
	m.commitLatency.Collect(ch)
	m.restored.Collect(ch)
	m.restoreRemaining.Collect(ch)
	m.lag.Collect(ch)
	m.mu.Lock()
	tasks := make([]*taskMetrics, 0, len(m.tasks))
	for tm := range m.tasks {
		tasks = append(tasks, tm)
	}
	m.mu.Unlock()
	for _, tm := range tasks {
		c := tm.task.Metrics()
		ch <- prometheus.MustNewConstMetric(m.processed, prometheus.CounterValue, float64(c.Processed), tm.thread, tm.id)
		for _, d := range [...]struct {
			reason string
			n      int64
		}{
			{dropDeserialization, c.SkippedDeserialization},
			{dropProcessing, c.SkippedProcessing},
			{dropInvalidTimestamp, c.SkippedInvalidTimestamp},
			{dropUnknownPartition, c.SkippedUnknownPartition},
			{dropProduction, tm.productionDropped.Load()},
			{dropLate, c.DroppedLate},
		} {
			ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(d.n), tm.thread, tm.id, d.reason)
		}
	}
}

// taskMetrics are the series of one task in one thread, resolved when the task is
// created so that the per-record path does no label lookup.
type taskMetrics struct {
	app               *appMetrics
	thread, id        string
	task              *Task               // set by start; the counters read at scrape
	latency           prometheus.Observer // nil when nothing is registered: no timing
	productionDropped atomic.Int64
}

// newTask makes the series of task id in thread.
func (m *appMetrics) newTask(thread string, id TaskID) *taskMetrics {
	tm := &taskMetrics{app: m, thread: thread, id: id.String()}
	if m.reg != nil {
		tm.latency = m.processLatency.WithLabelValues(thread, tm.id)
	}
	return tm
}

// start publishes the counters of the created task.
func (tm *taskMetrics) start(task *Task) {
	tm.task = task
	tm.app.mu.Lock()
	defer tm.app.mu.Unlock()
	tm.app.tasks[tm] = struct{}{}
}

// close removes the task's series: a task that comes back starts them again.
func (tm *taskMetrics) close() {
	m := tm.app
	m.mu.Lock()
	delete(m.tasks, tm)
	m.mu.Unlock()
	labels := prometheus.Labels{"thread": tm.thread, "task": tm.id}
	m.processLatency.DeletePartialMatch(labels)
	m.restored.DeletePartialMatch(labels)
	m.restoreRemaining.DeletePartialMatch(labels)
}

// restoreProgress tracks the restoration of one store.
type restoreProgress struct {
	restored  prometheus.Counter
	remaining prometheus.Gauge
}

// restoring returns the restore series of store.
func (tm *taskMetrics) restoring(store string) restoreProgress {
	return restoreProgress{
		restored:  tm.app.restored.WithLabelValues(tm.thread, tm.id, store),
		remaining: tm.app.restoreRemaining.WithLabelValues(tm.thread, tm.id, store),
	}
}

// commitObserver returns the commit latency series of thread.
func (m *appMetrics) commitObserver(thread string) prometheus.Observer {
	return m.commitLatency.WithLabelValues(thread)
}

// partitionLag is the lag series of one fetched partition and the position after the
// last record fetched from it.
type partitionLag struct {
	gauge prometheus.Gauge
	next  int64 // -1 until a record was fetched
}

// partitionLag returns the lag series of tp in thread.
func (m *appMetrics) partitionLag(thread string, tp TopicPartition) *partitionLag {
	return &partitionLag{gauge: m.lag.WithLabelValues(thread, tp.Topic, strconv.FormatInt(int64(tp.Partition), 10)), next: -1}
}

// deleteLag removes the lag series of tp in thread.
func (m *appMetrics) deleteLag(thread string, tp TopicPartition) {
	m.lag.DeleteLabelValues(thread, tp.Topic, strconv.FormatInt(int64(tp.Partition), 10))
}
