// Package group is the broker's consumer-group coordinator for Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the committed-offsets
// store behind OffsetCommit, OffsetFetch, OffsetDelete and, for transactions,
// TxnOffsetCommit.
//
// The coordinator takes and returns franz-go kmsg messages: group membership is
// protocol through and through (error codes, version-dependent fields), and the broker's
// handlers only pass requests in. Assignments are opaque bytes relayed from the leader,
// so any client-side assignor works. Each group has its own lock; requests that wait
// (JoinGroup until the rebalance completes, SyncGroup until the leader's assignment)
// wait on a channel, never under a lock. Committed offsets are kept in memory and in an
// append-only log of CRC-framed records under Options.Dir; those of groups nobody uses
// any more expire after Options.OffsetsRetention.
package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MaxVersions is the highest version of each API the coordinator implements, keyed by
// API key; it implements every version from 0 up. JoinGroup v9 is KIP-814's
// SkipAssignment; OffsetCommit v9 and OffsetFetch v9 are KIP-848 member epochs, and
// DescribeGroups v6 and ListGroups v5 are KIP-848 additions, none of which classic
// groups need. TxnOffsetCommit v4 and up belong to KIP-890 part 2 (transaction.version
// 2), which the broker does not offer.
var MaxVersions = map[int16]int16{
	kmsg.FindCoordinator.Int16(): 4,
	kmsg.JoinGroup.Int16():       9,
	kmsg.SyncGroup.Int16():       5,
	kmsg.Heartbeat.Int16():       4,
	kmsg.LeaveGroup.Int16():      5,
	kmsg.OffsetCommit.Int16():    8,
	kmsg.OffsetFetch.Int16():     8,
	kmsg.DescribeGroups.Int16():  5,
	kmsg.ListGroups.Int16():      4,
	kmsg.DeleteGroups.Int16():    2,
	kmsg.OffsetDelete.Int16():    0,
	kmsg.TxnOffsetCommit.Int16(): 3,
}

// Options configures a Coordinator.
type Options struct {
	// Dir holds the committed-offsets log. Required.
	Dir string
	// Sync makes an OffsetCommit wait for fsync before it is answered; concurrent
	// commits share one fsync.
	Sync bool
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger
	// PartitionExists reports whether a partition exists; commits to others are refused
	// with UNKNOWN_TOPIC_OR_PARTITION. Nil accepts every partition.
	PartitionExists func(topic string, partition int32) bool
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts members may ask
	// for (group.min/max.session.timeout.ms). Zero means no bound.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay holds the first rebalance of an empty group so that members
	// starting together land in one generation (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// OffsetsRetention deletes the committed offsets of a group, and the group, once it
	// has had no members, no pending transactional offsets and no commit for this long
	// (offsets.retention.minutes); see expire.go. Zero keeps offsets forever.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are looked for
	// (offsets.retention.check.interval.ms). Default 10 minutes.
	OffsetsRetentionCheckInterval time.Duration

	// now is the clock of offset retention, replaced by tests. Default time.Now.
	now func() time.Time
	// minCompact, when set, is the size below which the offsets log is not compacted,
	// lowered by tests.
	minCompact int64
}

// Client is who sent a request, as DescribeGroups reports it.
type Client struct {
	ID   string
	Host string
}

// Coordinator runs every consumer group of the broker.
type Coordinator struct {
	opts    Options
	log     *slog.Logger
	store   *store
	closing atomic.Bool

	// stopExpiry ends the goroutine that expires offsets, expiryDone tells it has.
	stopExpiry context.CancelFunc
	expiryDone chan struct{}

	// mu guards the registry only; it is never held while a group's lock is taken.
	mu     sync.Mutex
	groups map[string]*group
	closed bool
}

// errClosed is returned by lockGroup once Close has begun.
var errClosed = errors.New("group: coordinator closed")

// New opens the offsets log in opts.Dir and returns a coordinator with every group that
// has committed offsets, in state Empty.
func New(opts Options) (*Coordinator, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("group: Options.Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PartitionExists == nil {
		opts.PartitionExists = func(string, int32) bool { return true }
	}
	if opts.OffsetsRetentionCheckInterval <= 0 {
		opts.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	st, err := openStore(opts.Dir, opts.Sync, opts.Logger, opts.now, opts.minCompact)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{opts: opts, log: opts.Logger, store: st, groups: map[string]*group{}}
	for _, name := range st.groups() {
		c.groups[name] = newGroup(c, name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopExpiry, c.expiryDone = cancel, make(chan struct{})
	go c.expireLoop(ctx)
	return c, nil
}

// Close stops offset expiry and every group's timers, answers waiting requests with
// NOT_COORDINATOR and syncs and closes the offsets log.
func (c *Coordinator) Close() error {
	c.closing.Store(true)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	c.stopExpiry()
	<-c.expiryDone
	for _, g := range gs {
		g.mu.Lock()
		g.stopTimers()
		g.mu.Unlock()
	}
	return c.store.close()
}

// lockGroup returns the named group locked, creating it when create is set. It returns
// nil, nil when the group does not exist, and errClosed after Close.
func (c *Coordinator) lockGroup(name string, create bool) (*group, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClosed
		}
		g := c.groups[name]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil, nil
			}
			g = newGroup(c, name)
			c.groups[name] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != stateDead {
			return g, nil
		}
		// Removed while we waited for it; the registry has moved on.
		g.mu.Unlock()
	}
}

// unlock releases a group locked by lockGroup, first removing it if nothing is left of
// it: no members, no member IDs handed out and no committed or pending offsets.
func (c *Coordinator) unlock(g *group) {
	if g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && !c.store.hasGroup(g.name) {
		c.remove(g)
	}
	g.mu.Unlock()
}

// remove marks g dead and takes it out of the registry; g.mu is held.
func (c *Coordinator) remove(g *group) {
	g.state = stateDead
	g.stopTimers()
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
}

// snapshot returns the registered groups, for requests that visit all of them.
func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	return gs
}

// DeleteTopic drops every group's committed and pending offsets of a deleted topic, so
// that a topic created later under the same name starts without them.
func (c *Coordinator) DeleteTopic(name string) {
	groups := c.store.groupsWithTopic(name)
	if len(groups) == 0 {
		return
	}
	seq, err := c.store.write(&op{kind: opDeleteTopic, topic: name})
	if err == nil {
		err = c.store.flush(context.Background(), seq)
	}
	if err != nil {
		c.log.Warn("dropping offsets of deleted topic failed", "topic", name, "err", err)
	}
	for _, name := range groups {
		if g, _ := c.lockGroup(name, false); g != nil {
			c.unlock(g)
		}
	}
}

// newMemberID makes a member ID as Kafka does: the client or instance ID, a dash and
// a random UUID. Clients rely on the prefix to recognise their static instance.
func newMemberID(prefix string) string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// errorCode maps a failure outside the protocol's own errors (I/O, closing) to the code
// clients treat as "retry, possibly elsewhere".
func errorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, errClosed) {
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
