package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/eddy-io/eddy/broker/internal/storage"
)

// Config configures a Broker. The zero value of every field selects its documented default.
type Config struct {
	// DataDir holds the broker's topics, logs and group offsets. Required.
	DataDir string

	// Listen is the TCP address to listen on. Default "127.0.0.1:9092"; use
	// "127.0.0.1:0" for a free port (tests).
	Listen string

	// AdvertisedAddr is the host:port clients are told to connect to in Metadata and
	// FindCoordinator answers. Default: the address actually listened on.
	AdvertisedAddr string

	// NodeID is the broker's node ID. Default 1.
	NodeID int32

	// AutoCreateTopics creates a topic on the first Metadata request that names it and
	// allows auto-creation, as auto.create.topics.enable does. Default off.
	AutoCreateTopics bool

	// DefaultPartitions is the partition count of auto-created topics and of CreateTopics
	// requests that leave it to the broker (num.partitions). Default 1.
	DefaultPartitions int32

	// Fsync is the log flush policy: "always" (default; an acknowledged batch is on disk,
	// concurrent appends share one fsync), "interval" (every FsyncInterval) or "os" (left
	// to the kernel). The package doc gives each one's loss window.
	Fsync string

	// FsyncInterval is the flush period of the "interval" policy. Default 1s.
	FsyncInterval time.Duration

	// MaxRequestBytes bounds the size of one request; a larger one closes the connection
	// before anything is allocated for it (socket.request.max.bytes). Default 100 MiB.
	MaxRequestBytes int32

	// MaxPartitionsPerTopic bounds the partitions one topic may have, since each is a
	// directory of open files created at once. Default 10000.
	MaxPartitionsPerTopic int32

	// MaxInFlightPerConn bounds how many requests of one connection may be read ahead
	// of their responses. Default 16.
	MaxInFlightPerConn int

	// OffsetsRetention drops the committed offsets of a group that has had no members
	// and no commit for this long (offsets.retention.minutes), so that groups nobody
	// uses any more do not stay forever. Default 7 days.
	OffsetsRetention time.Duration

	// MaxConnections bounds the client connections open at once; a connection beyond it
	// is closed on accept (max.connections). Default 10000.
	MaxConnections int

	// ConnectionsMaxIdle closes a connection that has sent no request for this long and
	// has no response pending (connections.max.idle.ms). Default 10 minutes; negative
	// means never.
	ConnectionsMaxIdle time.Duration

	// TransactionMaxTimeout is the longest transaction timeout a producer may ask for
	// (transaction.max.timeout.ms). Default 15 minutes.
	TransactionMaxTimeout time.Duration

	// TransactionalIDExpiration forgets a transactional ID with no transaction for this
	// long (transactional.id.expiration.ms). Default 7 days.
	TransactionalIDExpiration time.Duration

	// TransactionAbortInterval is how often transactions past their timeout are looked
	// for and aborted (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	// Default 10s.
	TransactionAbortInterval time.Duration

	// CleanerInterval is how often compacted topics are checked for a log worth
	// cleaning (log.cleaner.backoff.ms). Default 15s.
	CleanerInterval time.Duration

	// RetentionCheckInterval is how often retention and segment age are enforced
	// (log.retention.check.interval.ms). Default 5 minutes.
	RetentionCheckInterval time.Duration

	// GroupInitialRebalanceDelay delays the first rebalance of a new group so that
	// members starting together join one generation (group.initial.rebalance.delay.ms).
	// Default 3s; negative means none.
	GroupInitialRebalanceDelay time.Duration

	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session timeouts that
	// group members may ask for. Defaults 6s and 30m, as Kafka.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration

	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9092"
	}
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if c.NodeID < 0 {
		return c, fmt.Errorf("%w: NodeID %d is negative", ErrInvalidConfig, c.NodeID)
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.DefaultPartitions < 0 {
		return c, fmt.Errorf("%w: DefaultPartitions %d is negative", ErrInvalidConfig, c.DefaultPartitions)
	}
	if c.Fsync == "" {
		c.Fsync = "always"
	}
	if _, err := storage.ParseFsyncPolicy(c.Fsync); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.FsyncInterval <= 0 {
		c.FsyncInterval = time.Second
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.MaxPartitionsPerTopic <= 0 {
		c.MaxPartitionsPerTopic = 10000
	}
	if c.MaxInFlightPerConn <= 0 {
		c.MaxInFlightPerConn = 16
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.ConnectionsMaxIdle == 0 {
		c.ConnectionsMaxIdle = 10 * time.Minute
	}
	if c.TransactionMaxTimeout <= 0 {
		c.TransactionMaxTimeout = 15 * time.Minute
	}
	if c.TransactionalIDExpiration <= 0 {
		c.TransactionalIDExpiration = 7 * 24 * time.Hour
	}
	if c.TransactionAbortInterval <= 0 {
		c.TransactionAbortInterval = 10 * time.Second
	}
	if c.CleanerInterval <= 0 {
		c.CleanerInterval = 15 * time.Second
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = 5 * time.Minute
	}
	if c.GroupInitialRebalanceDelay == 0 {
		c.GroupInitialRebalanceDelay = 3 * time.Second
	}
	if c.GroupInitialRebalanceDelay < 0 {
		c.GroupInitialRebalanceDelay = 0
	}
	if c.GroupMinSessionTimeout <= 0 {
		c.GroupMinSessionTimeout = 6 * time.Second
	}
	if c.GroupMaxSessionTimeout <= 0 {
		c.GroupMaxSessionTimeout = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
