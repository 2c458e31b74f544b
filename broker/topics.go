package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-io/eddy/broker/internal/storage"
)

// topic is one topic: its identity, config overrides and partitions. The partition list
// and settings are replaced whole, never mutated, so the data path reads them without
// locks.
type topic struct {
	name       string
	id         [16]byte
	overrides  atomic.Pointer[map[string]string]
	settings   atomic.Pointer[topicSettings]
	partitions atomic.Pointer[[]*partition]
}

// partition is one partition's log.
type partition struct {
	topic *topic
	index int32
	log   *storage.Log
}

func (t *topic) parts() []*partition { return *t.partitions.Load() }

func (t *topic) partition(i int32) *partition {
	ps := t.parts()
	if i < 0 || int(i) >= len(ps) {
		return nil
	}
	return ps[i]
}

func (t *topic) configs() map[string]string { return *t.overrides.Load() }

func (t *topic) setConfigs(overrides map[string]string) {
	s := settingsFor(overrides)
	t.overrides.Store(&overrides)
	t.settings.Store(&s)
	for _, p := range t.parts() {
		p.log.SetConfig(s.storage)
	}
}

// topicRecord is a topic as persisted in meta/topics.json.
type topicRecord struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Configs    map[string]string
}

// topicRegistry holds every topic. Lookups read an immutable map through an atomic
// pointer; changes (create, delete, add partitions, configs) serialise on mu, persist
// topics.json, then publish a new map.
type topicRegistry struct {
	b      *Broker
	dir    string
	mu     sync.Mutex
	byName atomic.Pointer[map[string]*topic]

	// The log cleaner runs from openTopics until close.
	stopCleaner context.CancelFunc
	cleanerDone chan struct{}
}

// Errors of topic administration, mapped to Kafka error codes by the handlers.
var (
	errTopicExists       = errors.New("topic already exists")
	errUnknownTopic      = errors.New("unknown topic")
	errInvalidTopic      = errors.New("invalid topic name")
	errInvalidPartitions = errors.New("invalid partition count")
)

// adminError maps an error of topic administration to its Kafka error code and the
// message answered with it. Anything unexpected (a disk failure) is logged and answered
// UNKNOWN_SERVER_ERROR, as Kafka does.
func (b *Broker) adminError(op, resource string, err error) (int16, *string) {
	msg := err.Error()
	switch {
	case errors.Is(err, errTopicExists):
		return kerr.TopicAlreadyExists.Code, &msg
	case errors.Is(err, errUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code, &msg
	case errors.Is(err, errInvalidTopic):
		return kerr.InvalidTopicException.Code, &msg
	case errors.Is(err, errInvalidPartitions):
		return kerr.InvalidPartitions.Code, &msg
	case errors.Is(err, errInvalidConfig):
		return kerr.InvalidConfig.Code, &msg
	default:
		b.log.Error(op+" failed", "resource", resource, "err", err)
		return kerr.UnknownServerError.Code, &msg
	}
}

func openTopics(b *Broker, dir string) (*topicRegistry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: logs dir: %w", err)
	}
	r := &topicRegistry{b: b, dir: dir}
	var recs []topicRecord
	if _, err := b.meta.load("topics.json", &recs); err != nil {
		return nil, err
	}
	m := make(map[string]*topic, len(recs))
	r.byName.Store(&m)
	keep := map[string]bool{}
	for _, rec := range recs {
		t := &topic{name: rec.Name, id: rec.ID}
		if rec.Configs == nil {
			rec.Configs = map[string]string{}
		}
		s := settingsFor(rec.Configs)
		t.overrides.Store(&rec.Configs)
		t.settings.Store(&s)
		parts := make([]*partition, 0, rec.Partitions)
		for i := range rec.Partitions {
			p, err := r.openPartition(t, i)
			if err != nil {
				r.closeAll(m)
				return nil, err
			}
			keep[filepath.Base(r.partDir(t.name, i))] = true
			parts = append(parts, p)
		}
		t.partitions.Store(&parts)
		m[t.name] = t
	}
	// A crash between persisting a deletion and removing its logs leaves orphans.
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.closeAll(m)
		return nil, fmt.Errorf("broker: logs dir: %w", err)
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			b.log.Info("removing log of deleted topic", "dir", e.Name())
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	r.stopCleaner, r.cleanerDone = stop, make(chan struct{})
	go r.cleanLoop(ctx, b.cfg.CleanerInterval)
	return r, nil
}

func (r *topicRegistry) partDir(topic string, p int32) string {
	return filepath.Join(r.dir, topic+"-"+strconv.Itoa(int(p)))
}

func (r *topicRegistry) openPartition(t *topic, i int32) (*partition, error) {
	l, err := storage.Open(r.partDir(t.name, i), t.settings.Load().storage, storage.Options{
		Fsync:         r.b.fsync,
		FsyncInterval: r.b.cfg.FsyncInterval,
		Logger:        r.b.log.With("topic", t.name, "partition", i),
	})
	if err != nil {
		return nil, fmt.Errorf("broker: open %s-%d: %w", t.name, i, err)
	}
	return &partition{topic: t, index: i, log: l}, nil
}

func (r *topicRegistry) get(name string) *topic { return (*r.byName.Load())[name] }

func (r *topicRegistry) byID(id [16]byte) *topic {
	for _, t := range *r.byName.Load() {
		if t.id == id {
			return t
		}
	}
	return nil
}

// all returns the topics sorted by name.
func (r *topicRegistry) all() []*topic {
	m := *r.byName.Load()
	ts := slices.Collect(maps.Values(m))
	slices.SortFunc(ts, func(a, b *topic) int { return strings.Compare(a.name, b.name) })
	return ts
}

func (r *topicRegistry) partitionExists(name string, p int32) bool {
	t := r.get(name)
	return t != nil && t.partition(p) != nil
}

// persistLocked writes topics.json for the map m; r.mu is held.
func (r *topicRegistry) persistLocked(m map[string]*topic) error {
	recs := make([]topicRecord, 0, len(m))
	for _, t := range m {
		recs = append(recs, topicRecord{Name: t.name, ID: t.id, Partitions: int32(len(t.parts())), Configs: t.configs()})
	}
	slices.SortFunc(recs, func(a, b topicRecord) int { return strings.Compare(a.Name, b.Name) })
	return r.b.meta.save("topics.json", recs)
}

// validTopicName applies Kafka's rules: 1 to 249 characters of [a-zA-Z0-9._-], not "."
// or "..".
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: %q", errInvalidTopic, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has the character %q", errInvalidTopic, name, c)
		}
	}
	return nil
}

// create makes a topic with n partitions and the given (validated) overrides. With
// validateOnly it only checks.
func (r *topicRegistry) create(name string, n int32, overrides map[string]string, validateOnly bool) (*topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: %d", errInvalidPartitions, n)
	}
	if n > r.b.cfg.MaxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: %d is more than the broker's limit of %d", errInvalidPartitions, n, r.b.cfg.MaxPartitionsPerTopic)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.byName.Load()
	if _, ok := old[name]; ok {
		return nil, fmt.Errorf("%w: %s", errTopicExists, name)
	}
	t := &topic{name: name}
	if _, err := rand.Read(t.id[:]); err != nil {
		return nil, fmt.Errorf("broker: topic id: %w", err)
	}
	if validateOnly {
		return t, nil
	}
	if overrides == nil {
		overrides = map[string]string{}
	}
	s := settingsFor(overrides)
	t.overrides.Store(&overrides)
	t.settings.Store(&s)
	parts := make([]*partition, 0, n)
	for i := range n {
		p, err := r.openPartition(t, i)
		if err != nil {
			for _, p := range parts {
				p.log.Remove()
			}
			return nil, err
		}
		parts = append(parts, p)
	}
	t.partitions.Store(&parts)
	m := maps.Clone(old)
	m[name] = t
	if err := r.persistLocked(m); err != nil {
		for _, p := range parts {
			p.log.Remove()
		}
		return nil, err
	}
	r.byName.Store(&m)
	r.b.log.Info("topic created", "topic", name, "partitions", n)
	return t, nil
}

// delete removes a topic, its logs and its committed offsets.
func (r *topicRegistry) delete(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.byName.Load()
	t, ok := old[name]
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	m := maps.Clone(old)
	delete(m, name)
	if err := r.persistLocked(m); err != nil {
		return err
	}
	r.byName.Store(&m)
	var errs []error
	for _, p := range t.parts() {
		errs = append(errs, p.log.Remove())
	}
	r.b.groups.DeleteTopic(name)
	r.b.log.Info("topic deleted", "topic", name)
	return errors.Join(errs...)
}

// addPartitions grows a topic to n partitions.
func (r *topicRegistry) addPartitions(name string, n int32, validateOnly bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.get(name)
	if t == nil {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	cur := t.parts()
	if n <= int32(len(cur)) {
		return fmt.Errorf("%w: topic %s has %d partitions, cannot go to %d", errInvalidPartitions, name, len(cur), n)
	}
	if n > r.b.cfg.MaxPartitionsPerTopic {
		return fmt.Errorf("%w: %d is more than the broker's limit of %d", errInvalidPartitions, n, r.b.cfg.MaxPartitionsPerTopic)
	}
	if validateOnly {
		return nil
	}
	parts := slices.Clone(cur)
	for i := int32(len(cur)); i < n; i++ {
		p, err := r.openPartition(t, i)
		if err != nil {
			for _, p := range parts[len(cur):] {
				p.log.Remove()
			}
			return err
		}
		parts = append(parts, p)
	}
	t.partitions.Store(&parts)
	if err := r.persistLocked(*r.byName.Load()); err != nil {
		t.partitions.Store(&cur)
		for _, p := range parts[len(cur):] {
			p.log.Remove()
		}
		return err
	}
	return nil
}

// alterConfigs replaces the overrides of topic name with change(current), which must
// return them validated and must not modify current. It runs under the registry lock so
// that concurrent alterations do not lose each other's changes. With validateOnly the
// result is only checked.
func (r *topicRegistry) alterConfigs(name string, change func(current map[string]string) (map[string]string, error), validateOnly bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.get(name)
	if t == nil {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	prev := t.configs()
	next, err := change(prev)
	if err == nil {
		err = checkCombined(next)
	}
	if err != nil || validateOnly {
		return err
	}
	t.setConfigs(next)
	if err := r.persistLocked(*r.byName.Load()); err != nil {
		t.setConfigs(prev)
		return err
	}
	r.b.log.Info("topic configs altered", "topic", name, "configs", next)
	return nil
}

func (r *topicRegistry) enforceRetention() {
	for _, t := range r.all() {
		for _, p := range t.parts() {
			if _, err := p.log.EnforceRetention(); err != nil && !errors.Is(err, storage.ErrClosed) {
				r.b.log.Warn("retention failed", "topic", t.name, "partition", p.index, "err", err)
			}
		}
	}
}

// cleanLoop is the log cleaner: every interval it offers each partition of the
// compacted topics a cleaning pass, which the log itself skips unless enough of it
// is dirty (or its tombstones are due). Passes run one at a time, like Kafka's
// single default cleaner thread, so compaction takes at most one core's worth of I/O.
func (r *topicRegistry) cleanLoop(ctx context.Context, interval time.Duration) {
	defer close(r.cleanerDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.cleanAll(ctx)
		}
	}
}

func (r *topicRegistry) cleanAll(ctx context.Context) {
	for _, t := range r.all() {
		if !t.settings.Load().storage.Compact {
			continue
		}
		for _, p := range t.parts() {
			st, err := p.log.Clean(ctx, time.Now())
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, storage.ErrClosed):
				// Deleted meanwhile.
			case err != nil:
				r.b.log.Warn("log cleaning failed", "topic", t.name, "partition", p.index, "err", err)
			case st.Segments > 0:
				r.b.log.Debug("log cleaned", "topic", t.name, "partition", p.index,
					"segments", st.Segments, "rewritten", st.Rewritten, "records_removed", st.RecordsRemoved,
					"bytes_read", st.BytesRead, "bytes_written", st.BytesWritten, "dirty_ratio", st.DirtyRatio,
					"duration", st.Duration)
			}
		}
	}
}

func (r *topicRegistry) close() error {
	r.stopCleaner()
	<-r.cleanerDone
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closeAll(*r.byName.Load())
}

func (r *topicRegistry) closeAll(m map[string]*topic) error {
	var errs []error
	for _, t := range m {
		if ps := t.partitions.Load(); ps != nil {
			for _, p := range *ps {
				errs = append(errs, p.log.Close())
			}
		}
	}
	return errors.Join(errs...)
}
