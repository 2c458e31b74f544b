package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/eddy-io/eddy/broker/internal/group"
	"github.com/eddy-io/eddy/broker/internal/storage"
	"github.com/eddy-io/eddy/broker/internal/txn"
)

// Errors returned by New, Start and Close.
var (
	// ErrInvalidConfig reports a Config that cannot work.
	ErrInvalidConfig = errors.New("broker: invalid config")
	// ErrNotStarted is returned by calls that need a started broker.
	ErrNotStarted = errors.New("broker: not started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("broker: closed")
)

// Broker is a single-node Kafka-protocol broker. Create it with New, then Start it.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	fsync  storage.FsyncPolicy
	meta   *metaStore
	topics *topicRegistry
	groups *group.Coordinator
	pids   *producerIDs
	txns   *txn.Coordinator

	mu       sync.Mutex
	ln       net.Listener
	addr     string
	started  bool
	closed   bool
	done     chan struct{} // closed when Close has finished
	conns    map[*conn]struct{}
	stop     context.CancelFunc
	loops    sync.WaitGroup // accept loop and housekeeping
	connsWG  sync.WaitGroup
	closeErr error
}

// New checks cfg and opens the broker's data directory: topics, their logs and committed
// group offsets are loaded. It does not listen yet; Start does.
func New(cfg Config) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	policy, _ := storage.ParseFsyncPolicy(cfg.Fsync)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, fsync: policy, conns: map[*conn]struct{}{}, done: make(chan struct{})}
	if b.meta, err = openMeta(filepath.Join(cfg.DataDir, "meta")); err != nil {
		return nil, err
	}
	if b.pids, err = openProducerIDs(b.meta); err != nil {
		return nil, err
	}
	if b.topics, err = openTopics(b, filepath.Join(cfg.DataDir, "logs")); err != nil {
		return nil, err
	}
	b.groups, err = group.New(group.Options{
		Dir:                   filepath.Join(cfg.DataDir, "groups"),
		Sync:                  policy == storage.FsyncAlways,
		Logger:                b.log.With("component", "groups"),
		PartitionExists:       b.topics.partitionExists,
		MinSessionTimeout:     cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
		OffsetsRetention:      cfg.OffsetsRetention,
	})
	if err != nil {
		b.topics.close()
		return nil, fmt.Errorf("broker: groups: %w", err)
	}
	// Transactions last: opening them may finish a commit or abort cut short by a
	// crash, which writes markers into the logs and completes group offsets.
	if err := b.openTransactions(); err != nil {
		b.groups.Close()
		b.topics.close()
		return nil, err
	}
	return b, nil
}

// Start listens on Config.Listen and serves clients until ctx ends or Close is called.
// It returns once the listener is open, so Addr is valid after it.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen: %w", err)
	}
	b.ln = ln
	b.addr = ln.Addr().String()
	if b.cfg.AdvertisedAddr == "" {
		b.cfg.AdvertisedAddr = b.addr
	}
	b.started = true
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = stop
	b.loops.Add(2)
	go b.acceptLoop(runCtx)
	go b.housekeeping(runCtx)
	go func() {
		select {
		case <-ctx.Done():
			b.Close()
		case <-runCtx.Done():
		}
	}()
	b.log.Info("broker listening", "addr", b.addr, "data_dir", b.cfg.DataDir, "fsync", b.cfg.Fsync)
	return nil
}

// Addr returns the address the broker listens on, or "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Close stops listening, closes every connection, then syncs and closes all logs and the
// group coordinator. It is safe to call more than once and from several goroutines: every
// call returns once the broker is fully closed.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return b.closeErr
	}
	b.closed = true
	if b.stop != nil {
		b.stop()
	}
	if b.ln != nil {
		b.ln.Close()
	}
	for c := range b.conns {
		c.close()
	}
	b.mu.Unlock()

	b.loops.Wait()
	b.connsWG.Wait()
	err := errors.Join(b.closeTransactions(), b.groups.Close(), b.topics.close())
	b.closeErr = err
	close(b.done)
	return err
}

func (b *Broker) acceptLoop(ctx context.Context) {
	defer b.loops.Done()
	var refused refusals
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			b.log.Warn("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			nc.Close()
			return
		}
		if len(b.conns) >= b.cfg.MaxConnections {
			b.mu.Unlock()
			nc.Close()
			refused.add(b.log, nc.RemoteAddr().String(), b.cfg.MaxConnections)
			continue
		}
		c := newConn(ctx, b, nc)
		b.conns[c] = struct{}{}
		b.connsWG.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.connsWG.Done()
			c.serve()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}

// housekeeping enforces retention and segment age on every log periodically.
func (b *Broker) housekeeping(ctx context.Context) {
	defer b.loops.Done()
	t := time.NewTicker(b.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.topics.enforceRetention()
		}
	}
}

// advertised returns the host and port clients are told to connect to.
func (b *Broker) advertised() (host string, port int32) {
	b.mu.Lock()
	addr := b.cfg.AdvertisedAddr
	b.mu.Unlock()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}
