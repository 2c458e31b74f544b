package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/state"
)

// Errors of the application runtime that callers branch on.
var (
	// ErrMissingSourceTopics reports source topics that do not exist on the broker; the
	// error names them. The application does not create its input.
	ErrMissingSourceTopics = errors.New("runtime: missing source topics")
	// ErrCopartitioning reports source topics of one sub-topology whose partition
	// counts differ, so their partitions cannot be joined task by task.
	ErrCopartitioning = errors.New("runtime: co-partitioned topics have different partition counts")
	// ErrInternalTopic reports an existing internal topic (changelog or repartition)
	// whose partition count is not the one the topology needs.
	ErrInternalTopic = errors.New("runtime: internal topic has the wrong partition count")
	// ErrStateDirLocked reports a state directory that another application instance
	// holds.
	ErrStateDirLocked = errors.New("runtime: state directory is locked by another instance")
	// ErrNotSupported reports a configuration or topology the runtime cannot run yet.
	ErrNotSupported = errors.New("runtime: not supported yet")
	// ErrAppClosed is returned by Run on an application that was closed.
	ErrAppClosed = errors.New("runtime: application closed")
	// ErrFenced is wrapped by the error Run returns when an exactly-once producer was
	// fenced: another instance took over its transactional ID (it runs with the same
	// process ID, or this one was presumed dead). Nothing the fenced producer wrote
	// since its last commit is committed.
	ErrFenced = errors.New("runtime: producer fenced by another instance")
)

// ProcessingGuarantee is the delivery guarantee of an application.
type ProcessingGuarantee int

const (
	// AtLeastOnce commits input offsets after the output and changelog writes they
	// caused are acknowledged: a crash may process records again, never loses them.
	AtLeastOnce ProcessingGuarantee = iota
	// ExactlyOnce is Kafka Streams' exactly_once_v2: each stream thread has one
	// transactional producer, and every commit interval one transaction holds the
	// output records, the changelog writes and the input offsets (committed with the
	// group's metadata, KIP-447), so a record's effects are committed all together or
	// not at all. Consumers read with read_committed. A failed or aborted transaction
	// rolls the thread's tasks back to their last commit (state and input position);
	// a producer fenced by another instance with the same transactional ID stops the
	// application with ErrFenced. The stores commit (Badger included) only after the
	// transaction, with the changelog offsets they reflect, so after a crash a task
	// replays just the changelog tail written since its last commit instead of
	// wiping its state and restoring it all, as Kafka Streams does. Works on any
	// broker with transactions (Kafka 2.5 or later).
	ExactlyOnce
)

// ProductionErrorHandler decides what to do with a record the broker refused after the
// producer's retries: ActionFail stops the application, ActionContinue drops the
// record, logs and counts it.
type ProductionErrorHandler func(r ProducedRecord, err error) ErrorAction

// RestoreListener is told about the restoration of each store from its changelog.
// Calls come from the stream thread restoring the task and must return quickly.
type RestoreListener interface {
	// OnRestoreStart is called before restoring changelog from offset start up to end
	// (exclusive).
	OnRestoreStart(changelog TopicPartition, store string, start, end int64)
	// OnBatchRestored is called after each batch of n records, the last at offset
	// lastOffset, was applied.
	OnBatchRestored(changelog TopicPartition, store string, lastOffset int64, n int)
	// OnRestoreEnd is called when the store caught up, with the total records applied.
	OnRestoreEnd(changelog TopicPartition, store string, total int64)
}

// Config configures an application. Zero fields take the defaults documented on them;
// ApplicationID and BootstrapServers are required.
type Config struct {
	// ApplicationID names the application: it is the consumer group ID, prefixes the
	// internal topics and names the state directory. Required.
	ApplicationID string
	// BootstrapServers are the brokers to connect to, host:port. Required.
	BootstrapServers []string
	// StateDir holds the application's local state under StateDir/<ApplicationID>,
	// locked by one instance at a time. Default: <os.TempDir()>/eddy-streams.
	StateDir string
	// Threads is the number of stream threads, each with its own consumer group
	// member, producer and tasks. Default 1.
	Threads int
	// CommitInterval is how often each thread flushes its stores and output and
	// commits its input offsets; under ExactlyOnce, how long a transaction lasts,
	// which bounds the latency of read_committed readers of the output. Default 30s
	// for AtLeastOnce and 100ms for ExactlyOnce, as Kafka Streams. Under ExactlyOnce a
	// rebalance waits for the open transaction to end, so keep it well below the
	// group's rebalance timeout.
	CommitInterval time.Duration
	// ProcessingGuarantee is AtLeastOnce (default) or ExactlyOnce.
	//
	// ExactlyOnce derives each thread's transactional ID from the application ID, a
	// process ID kept in the state directory (StateDir/<ApplicationID>/.process-id)
	// and the thread's index, so an instance restarted on the same state directory
	// fences the producers of its predecessor at once and aborts their open
	// transactions. Its producers' transaction timeout is 10s (Kafka Streams'
	// default; kgo.TransactionTimeout in ClientOptions changes it): a crashed
	// instance that is not restarted holds back read_committed readers of the
	// partitions it was writing for at most that long.
	ProcessingGuarantee ProcessingGuarantee
	// StandbyReplicas is how many warm copies of each stateful task's stores other
	// instances keep, reading the changelogs as the active task writes them, so that
	// when the task fails over it moves to one of them and restores only the tail.
	// Standbys go to other instances, never to another thread of the running one; with
	// fewer instances a task gets fewer. Default 0.
	StandbyReplicas int
	// OffsetReset says where partitions without a committed offset start:
	// OffsetResetEarliest (the default, as in Kafka Streams) or OffsetResetLatest.
	// Repartition topics always start at the earliest offset.
	OffsetReset OffsetReset
	// MaxTaskIdle is how long a task waits for data on an empty input partition that
	// is caught up before processing the others (Kafka's max.task.idle.ms). Default 0:
	// do not wait for those. Whatever its value, a task waits up to
	// max(MaxTaskIdle, DefaultLagIdle) for an empty partition whose last fetch said the
	// broker holds records beyond the ones fetched (or that was not fetched yet), so
	// that the records of a join's inputs are processed in timestamp order. Negative
	// (-1) never waits.
	MaxTaskIdle time.Duration
	// MaxBufferedPerPartition is how many records a task queues per input partition
	// before the thread pauses fetching it. Default 1000.
	MaxBufferedPerPartition int
	// ReplicationFactor of the internal topics the application creates; default -1,
	// the broker's default.
	ReplicationFactor int16
	// OnDeserializationError handles records the source serdes cannot decode; nil is
	// FailOnError, ContinueOnError skips and counts them, SendToDeadLetterTopic parks
	// them in a topic and goes on.
	OnDeserializationError ErrorHandler
	// OnProcessingError handles errors returned by processors and punctuators; nil is
	// FailOnError. It takes the same handlers as OnDeserializationError.
	OnProcessingError ErrorHandler
	// OnProductionError handles records the broker refused; nil fails the application.
	OnProductionError ProductionErrorHandler
	// RestoreListener, if set, is told about every store restoration.
	RestoreListener RestoreListener
	// StateListener, if set, is called on every change of the instance's AppState,
	// in order, from the goroutine causing it; it must return quickly and must not
	// call the App's methods.
	StateListener func(old, new AppState)
	// ClientOptions are passed to every franz-go client the application creates, after
	// its own options: TLS (kgo.DialTLSConfig), SASL (kgo.SASL), client ID and so on.
	// Options that change group or offset handling break the runtime.
	ClientOptions []kgo.Opt
	// Badger tunes the engines of persistent stores; zero fields take the defaults of
	// state.DefaultBadgerOptions.
	Badger state.BadgerOptions
	// Logger receives the application's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, if set, receives the application's Prometheus metrics when Run
	// starts, and Close unregisters them so that a later App may register again:
	//
	//   - eddy_app_state{state}: 1 for the current AppState, 0 for the others;
	//   - eddy_task_processed_records_total{thread,task};
	//   - eddy_task_dropped_records_total{thread,task,reason}, reason one of
	//     deserialization, processing (skipped or dead-lettered by the handlers),
	//     invalid_timestamp, unknown_partition, production;
	//   - eddy_task_process_latency_seconds{thread,task}, a histogram per record;
	//   - eddy_thread_commit_latency_seconds{thread}, a histogram;
	//   - eddy_task_restored_records_total{thread,task,store} and
	//     eddy_task_restore_remaining_records{thread,task,store};
	//   - eddy_consumer_lag_records{thread,topic,partition}: the high watermark less
	//     the thread's fetch position, as of its last fetch.
	//
	// Task series live as long as the task runs in the thread. Every series also
	// carries application_id: applications with different IDs share a registerer,
	// while a second instance of the same application registering on it makes Run
	// fail with prometheus.AlreadyRegisteredError, unless the registerer adds a label
	// telling them apart (prometheus.WrapRegistererWith). Nil registers nothing and
	// skips the per-record timing.
	Registerer prometheus.Registerer
	// ApplicationServer is the host:port where this instance answers interactive
	// queries, advertised to the other instances in the group metadata: App.KeyOwner
	// and App.AllMetadata report it, and NewQueryHandler forwards queries for keys
	// hosted elsewhere to it. The App does not listen on it itself; serve
	// NewQueryHandler (or your own endpoint) there.
	ApplicationServer string

	// metrics are the application's collectors, made by withDefaults so that New
	// and the threads share them.
	metrics *appMetrics
}

// DefaultCommitInterval is the commit interval of an at-least-once application.
const DefaultCommitInterval = 30 * time.Second

// DefaultExactlyOnceCommitInterval is the commit interval of an exactly-once
// application.
const DefaultExactlyOnceCommitInterval = 100 * time.Millisecond

// defaultTransactionTimeout is the transaction timeout of exactly-once producers.
const defaultTransactionTimeout = 10 * time.Second

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.ApplicationID == "" {
		return c, errors.New("runtime: Config.ApplicationID is required")
	}
	if err := checkAppID(c.ApplicationID); err != nil {
		return c, err
	}
	if len(c.BootstrapServers) == 0 {
		return c, errors.New("runtime: Config.BootstrapServers is required")
	}
	if c.ProcessingGuarantee != AtLeastOnce && c.ProcessingGuarantee != ExactlyOnce {
		return c, fmt.Errorf("runtime: unknown processing guarantee %d", c.ProcessingGuarantee)
	}
	if c.StandbyReplicas < 0 {
		return c, fmt.Errorf("runtime: negative StandbyReplicas %d", c.StandbyReplicas)
	}
	if c.Threads < 0 || c.CommitInterval < 0 || c.MaxBufferedPerPartition < 0 {
		return c, errors.New("runtime: Threads, CommitInterval and MaxBufferedPerPartition must not be negative")
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
		if c.ProcessingGuarantee == ExactlyOnce {
			c.CommitInterval = DefaultExactlyOnceCommitInterval
		}
	}
	if c.OffsetReset == OffsetResetDefault {
		c.OffsetReset = OffsetResetEarliest
	}
	if c.MaxBufferedPerPartition == 0 {
		c.MaxBufferedPerPartition = 1000
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "eddy-streams")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OnDeserializationError == nil {
		c.OnDeserializationError = FailOnError
	}
	if c.OnProcessingError == nil {
		c.OnProcessingError = FailOnError
	}
	if c.OnProductionError == nil {
		c.OnProductionError = func(ProducedRecord, error) ErrorAction { return ActionFail }
	}
	c.metrics = newAppMetrics(c.ApplicationID, c.Registerer)
	return c, nil
}

// checkAppID refuses an application ID that cannot be one path element.
func checkAppID(appID string) error {
	if appID == "." || appID == ".." || filepath.Base(appID) != appID {
		return fmt.Errorf("runtime: application ID %q cannot name a directory", appID)
	}
	return nil
}
