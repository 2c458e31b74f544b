// Package txn is the broker's transaction coordinator (Kafka's KIP-98 transactions with
// the KIP-360 producer-epoch recovery and KIP-447 group fencing on the clients' side):
// InitProducerId for transactional IDs, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// the transaction timeout, and DescribeTransactions and ListTransactions for tooling.
//
// The coordinator takes and returns franz-go kmsg messages, as the group coordinator
// does: the error codes a client gets depend on the request version, and the broker's
// handlers only pass requests in. The data side (markers in the partitions, pending
// offsets in the groups) is the broker's, reached through MarkerWriter.
//
// Each transactional ID has its own lock. Every state change is logged to an
// append-only log of CRC-framed records under Options.Dir (fsynced before it takes
// effect when Options.Sync is set; concurrent writers share an fsync) and only then
// applied. Ending a transaction logs the decision (PrepareCommit or PrepareAbort),
// writes the markers with the ID's lock released (requests for the ID meanwhile get
// CONCURRENT_TRANSACTIONS), and logs the completion. A decision whose markers could
// not all be written is retried by the background loop and finished by New after a
// restart.
//
// After a restart a transaction that was Ongoing is aborted at once, with an epoch bump
// as a timeout abort does (Kafka instead leaves it to time out): its producer's state
// is unknown and records it had acknowledged may be lost, and a read_committed reader
// should not wait a whole transaction timeout for the partitions' last stable offsets.
// A producer that is still alive recovers as it does from a timeout (KIP-588): its
// stale epoch is answered INVALID_PRODUCER_EPOCH and InitProducerId with its old pair
// gives it a new epoch.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// MarkerWriter is how the coordinator ends a transaction in the data it touched.
type MarkerWriter interface {
	// WriteMarkers appends a COMMIT/ABORT marker with the producer's ID and epoch to
	// every partition (skipping deleted topics) and returns once all are durable.
	WriteMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, parts []TopicPartition) error
	// CompleteOffsets commits or discards the group's pending transactional offsets of
	// the producer, durably.
	CompleteOffsets(ctx context.Context, group string, producerID int64, commit bool) error
}

// Defaults of the Options durations.
const (
	DefaultMaxTimeout    = 15 * time.Minute
	DefaultIDExpiration  = 7 * 24 * time.Hour
	DefaultAbortInterval = 10 * time.Second
)

// Options configures a Coordinator.
type Options struct {
	// Dir holds the state log. Required.
	Dir string
	// Sync makes every state change wait for fsync before it takes effect; concurrent
	// changes share one fsync.
	Sync bool
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
	// AllocateProducerID hands out producer IDs unique across restarts. Required.
	AllocateProducerID func() (int64, error)
	// PartitionExists reports whether a partition exists; AddPartitionsToTxn refuses
	// others with UNKNOWN_TOPIC_OR_PARTITION. Nil accepts every partition.
	PartitionExists func(topic string, partition int32) bool
	// Markers writes the transactions' outcomes into partitions and groups. Required.
	Markers MarkerWriter
	// MaxTimeout is the longest transaction timeout a producer may ask for
	// (transaction.max.timeout.ms). Default DefaultMaxTimeout.
	MaxTimeout time.Duration
	// IDExpiration forgets a transactional ID with no transaction in progress and no
	// change for this long (transactional.id.expiration.ms). Default
	// DefaultIDExpiration.
	IDExpiration time.Duration
	// AbortInterval is how often timed-out transactions are aborted, decided ones whose
	// markers failed are retried and idle IDs expired. Default DefaultAbortInterval.
	AbortInterval time.Duration

	// minCompact, when set, is the size below which the state log is not compacted,
	// lowered by tests.
	minCompact int64
}

// Coordinator runs every transactional ID of the broker.
type Coordinator struct {
	opts  Options
	log   *slog.Logger
	store *store

	stop     context.CancelFunc
	loopDone chan struct{}

	// mu guards the registry only; it is never held while an ID's lock is taken.
	mu     sync.Mutex
	txns   map[string]*txn
	closed bool
}

// txn is one transactional ID.
type txn struct {
	id string
	mu sync.Mutex
	m  meta
	// logged is false for an ID InitProducerID has registered but not yet logged;
	// everyone else treats it as unknown.
	logged bool
	// removed is set when the ID expired and left the registry; whoever locked it
	// meanwhile looks it up again.
	removed bool
	// busy is set while markers of the prepared transaction are written with mu
	// released; requests for the ID answer CONCURRENT_TRANSACTIONS meanwhile.
	busy bool
	// appends counts the produces and offset commits that CheckProduce and
	// CheckOffsetCommit let through and that have not yet landed; finish waits for
	// them before it writes markers. Add is only called under mu while the transaction
	// is ongoing, and Wait only once it is prepared, so every Add of a transaction
	// precedes the Wait of its end.
	appends sync.WaitGroup
}

// errClosed is returned once Close has begun.
var errClosed = errors.New("txn: coordinator closed")

// New opens the state log in opts.Dir, finishes the transactions a crash or failure left
// decided but unmarked (writing their markers again, which is harmless), aborts the
// ones that were Ongoing (see the package comment), and starts the loop that aborts
// timed-out transactions. A marker failure does not fail New: the loop retries it.
func New(ctx context.Context, opts Options) (*Coordinator, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("txn: Options.Dir is required")
	}
	if opts.AllocateProducerID == nil || opts.Markers == nil {
		return nil, fmt.Errorf("txn: Options.AllocateProducerID and Options.Markers are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PartitionExists == nil {
		opts.PartitionExists = func(string, int32) bool { return true }
	}
	if opts.MaxTimeout <= 0 {
		opts.MaxTimeout = DefaultMaxTimeout
	}
	if opts.IDExpiration <= 0 {
		opts.IDExpiration = DefaultIDExpiration
	}
	if opts.AbortInterval <= 0 {
		opts.AbortInterval = DefaultAbortInterval
	}
	st, states, err := openStore(opts.Dir, opts.Sync, opts.Logger, opts.minCompact)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{opts: opts, log: opts.Logger, store: st, txns: make(map[string]*txn, len(states))}
	var unfinished []*txn
	for id, m := range states {
		t := &txn{id: id, m: *m, logged: true}
		c.txns[id] = t
		if !m.state.idle() {
			unfinished = append(unfinished, t)
		}
	}
	if len(unfinished) > 0 {
		c.log.Info("finishing transactions open at shutdown", "count", len(unfinished))
	}
	c.each(ctx, unfinished, func(t *txn) {
		t.mu.Lock()
		defer t.mu.Unlock()
		switch {
		case t.m.state == stateOngoing:
			c.coordinatorAbort(ctx, t, "open at restart")
		case t.m.state.prepared():
			c.retryFinish(ctx, t)
		}
	})
	if err := ctx.Err(); err != nil {
		st.close()
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.loopDone = make(chan struct{})
	go c.loop(loopCtx)
	return c, nil
}

// Close stops the background loop and syncs and closes the state log; requests after
// it answer NOT_COORDINATOR.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	<-c.loopDone
	return c.store.close()
}

// lockTxn returns the ID locked, registering it (unlogged) when create is set. It
// returns nil, nil when the ID is unknown, and errClosed after Close. An unlogged
// entry is returned only with create.
func (c *Coordinator) lockTxn(id string, create bool) (*txn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClosed
		}
		t := c.txns[id]
		if t == nil {
			if !create {
				c.mu.Unlock()
				return nil, nil
			}
			t = &txn{id: id}
			c.txns[id] = t
		}
		c.mu.Unlock()
		t.mu.Lock()
		switch {
		case t.removed:
			// Expired while we waited for it; the registry has moved on.
			t.mu.Unlock()
			continue
		case !t.logged && !create:
			t.mu.Unlock()
			return nil, nil
		}
		return t, nil
	}
}

// remove takes t out of the registry; t.mu is held.
func (c *Coordinator) remove(t *txn) {
	t.removed = true
	c.mu.Lock()
	if c.txns[t.id] == t {
		delete(c.txns, t.id)
	}
	c.mu.Unlock()
}

// snapshot returns the registered IDs, for requests and loops that visit all of them.
func (c *Coordinator) snapshot() []*txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := make([]*txn, 0, len(c.txns))
	for _, t := range c.txns {
		ts = append(ts, t)
	}
	return ts
}

// persist logs next as t's state and then makes it t's state; t.mu is held. On failure
// t is unchanged.
func (c *Coordinator) persist(t *txn, next meta) error {
	seq, err := c.store.write(t.id, &next)
	if err == nil {
		err = c.store.wait(seq)
	}
	if err != nil {
		c.log.Error("logging transaction state failed", "transactional_id", t.id, "state", next.state, "err", err)
		return err
	}
	t.m = next
	t.logged = true
	return nil
}

// parallelism bounds how many transactions New and the loop finish at a time.
const parallelism = 16

// each runs fn for every t, a few at a time, until ctx ends.
func (c *Coordinator) each(ctx context.Context, ts []*txn, fn func(*txn)) {
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for _, t := range ts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(t)
		})
	}
	wg.Wait()
}

// errorCode maps a failure outside the protocol's own errors (I/O, closing) to the code
// clients treat as "retry, possibly elsewhere".
func errorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, errClosed) || errors.Is(err, errStoreClosed) {
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
