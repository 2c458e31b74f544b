package runtime

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// ReadOnlyKeyValueStore reads one key-value store across the active tasks of this
// instance, as Kafka Streams' ReadOnlyKeyValueStore from KafkaStreams.store. It finds
// the tasks at each call, so it stays usable across rebalances; a call made while the
// instance rebalances, or whose task moves away meanwhile, fails with an error
// wrapping ErrStoreNotAvailable. It is safe for concurrent use, and with processing:
// stores take reads from other goroutines, which see writes still in the record
// cache.
//
// A table's store (values with timestamps, *state.TimestampedKeyValueStore) can be
// read with V the bare value, as Kafka Streams' keyValueStore() query type does, or
// with V serde.ValueAndTimestamp to see the timestamps.
type ReadOnlyKeyValueStore[K, V any] struct {
	app  *App
	name string
	sub  int
	keys serde.Serde[K]
}

// QueryKeyValueStore returns read-only access to key-value store name. keys is the
// serde the store's keys were partitioned with (the store's key serde, for the DSL's
// stores): Get uses it to find the task holding a key, and ranges to merge the tasks'
// entries in key order. A name the topology does not have fails with an error
// wrapping ErrStoreNotAvailable and ErrUnknownStore; a store of another type fails
// the calls with ErrWrongStoreType.
func (a *App) QueryKeyValueStore[K, V any](name string, keys serde.Serde[K]) (*ReadOnlyKeyValueStore[K, V], error) {
	sub, err := a.queries.subtopologyOf(name)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errors.New("runtime: query: nil key serde")
	}
	return &ReadOnlyKeyValueStore[K, V]{app: a, name: name, sub: sub, keys: keys}, nil
}

// Name returns the store's name.
func (s *ReadOnlyKeyValueStore[K, V]) Name() string { return s.name }

// Get returns the value of key from the task holding it; found is false when it has
// none. A key whose task is active on another instance fails with ErrKeyNotLocal
// (App.KeyOwner names that instance).
func (s *ReadOnlyKeyValueStore[K, V]) Get(key K) (value V, found bool, err error) {
	kb, err := encodeQueryKey(s.keys, key)
	if err != nil {
		return value, false, err
	}
	id, _, err := s.app.keyTask(s.name, kb)
	if err != nil {
		return value, false, err
	}
	views, rebalancing, err := s.views(&id)
	if err != nil {
		return value, false, err
	}
	if len(views) == 0 {
		if rebalancing {
			return value, false, fmt.Errorf("%w: store %q: the instance is rebalancing", ErrStoreNotAvailable, s.name)
		}
		return value, false, fmt.Errorf("%w: store %q, task %s", ErrKeyNotLocal, s.name, id)
	}
	value, found, err = views[0].Get(key)
	return value, found, s.storeErr(err)
}

// Range returns the entries of every local task with keys from from to to, both
// inclusive, merged in the order of the encoded keys. The iterator must be closed.
func (s *ReadOnlyKeyValueStore[K, V]) Range(from, to K) (state.KeyValueIterator[K, V], error) {
	return s.merged(func(v kvView[K, V]) (state.KeyValueIterator[K, V], error) { return v.Range(from, to) })
}

// All returns every entry of every local task, merged in the order of the encoded
// keys. The iterator must be closed.
func (s *ReadOnlyKeyValueStore[K, V]) All() (state.KeyValueIterator[K, V], error) {
	return s.merged(kvView[K, V].All)
}

// ApproximateNumEntries sums the estimates of the local tasks' stores.
func (s *ReadOnlyKeyValueStore[K, V]) ApproximateNumEntries() (int64, error) {
	views, _, err := s.views(nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, v := range views {
		n += v.ApproximateNumEntries()
	}
	return n, nil
}

// views returns the store of each running local task (or of task only).
func (s *ReadOnlyKeyValueStore[K, V]) views(only *TaskID) ([]kvView[K, V], bool, error) {
	tasks, rebalancing, err := s.app.runningTasks(s.sub, only)
	if err != nil {
		return nil, false, err
	}
	out := make([]kvView[K, V], 0, len(tasks))
	for _, t := range tasks {
		st, err := t.Store(s.name)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrStoreNotAvailable, err)
		}
		v, ok := viewOf[K, V](st)
		if !ok {
			var k K
			var val V
			return nil, false, fmt.Errorf("%w: store %q is %T, not a key-value store of %T to %T", ErrWrongStoreType, s.name, st, k, val)
		}
		out = append(out, v)
	}
	return out, rebalancing, nil
}

// merged opens open over every local task's store and merges the iterators.
func (s *ReadOnlyKeyValueStore[K, V]) merged(open func(kvView[K, V]) (state.KeyValueIterator[K, V], error)) (state.KeyValueIterator[K, V], error) {
	views, _, err := s.views(nil)
	if err != nil {
		return nil, err
	}
	m := &mergeIterator[K, V]{keys: s.keys, wrap: s.storeErr}
	for _, v := range views {
		it, err := open(v)
		if err != nil {
			return nil, errors.Join(s.storeErr(err), m.Close())
		}
		m.its = append(m.its, it)
	}
	m.heads = make([][]byte, len(m.its))
	return m, nil
}

// storeErr marks a read that met a closed store (its task moved away or the
// instance is closing) as not available.
func (s *ReadOnlyKeyValueStore[K, V]) storeErr(err error) error {
	if errors.Is(err, state.ErrClosed) {
		return fmt.Errorf("%w: store %q: %w", ErrStoreNotAvailable, s.name, err)
	}
	return err
}

// kvView is the read side of a typed key-value store.
type kvView[K, V any] interface {
	Get(key K) (V, bool, error)
	Range(from, to K) (state.KeyValueIterator[K, V], error)
	All() (state.KeyValueIterator[K, V], error)
	ApproximateNumEntries() int64
}

// viewOf returns the read side of st as a store of K to V: a key-value store of
// exactly those types, or a timestamped one of V read without the timestamps.
func viewOf[K, V any](st any) (kvView[K, V], bool) {
	switch st := st.(type) {
	case *state.KeyValueStore[K, V]:
		return st, true
	case *state.KeyValueStore[K, serde.ValueAndTimestamp[V]]:
		return bareValues[K, V]{st}, true
	}
	return nil, false
}

// bareValues reads a timestamped store without the timestamps.
type bareValues[K, V any] struct {
	s *state.KeyValueStore[K, serde.ValueAndTimestamp[V]]
}

func (b bareValues[K, V]) Get(key K) (V, bool, error) {
	vt, found, err := b.s.Get(key)
	return vt.Value, found, err
}

func (b bareValues[K, V]) Range(from, to K) (state.KeyValueIterator[K, V], error) {
	it, err := b.s.Range(from, to)
	if err != nil {
		return nil, err
	}
	return bareIterator[K, V]{it}, nil
}

func (b bareValues[K, V]) All() (state.KeyValueIterator[K, V], error) {
	it, err := b.s.All()
	if err != nil {
		return nil, err
	}
	return bareIterator[K, V]{it}, nil
}

func (b bareValues[K, V]) ApproximateNumEntries() int64 { return b.s.ApproximateNumEntries() }

// bareIterator drops the timestamps of a timestamped store's iterator.
type bareIterator[K, V any] struct {
	state.KeyValueIterator[K, serde.ValueAndTimestamp[V]]
}

func (it bareIterator[K, V]) Value() V { return it.KeyValueIterator.Value().Value }

// mergeIterator merges iterators sorted by encoded key into one. heads holds each
// iterator's current key encoded, nil once it is used up; the tasks of one store
// never share a key, and a tie (which only a serde encoding two keys alike could
// make) goes to the earlier task.
type mergeIterator[K, V any] struct {
	keys    serde.Serde[K]
	wrap    func(error) error
	its     []state.KeyValueIterator[K, V]
	heads   [][]byte
	cur     int
	started bool
	err     error
	closed  bool
}

func (m *mergeIterator[K, V]) Next() bool {
	if m.err != nil || m.closed {
		return false
	}
	if !m.started {
		m.started = true
		for i := range m.its {
			m.advance(i)
		}
	} else if m.cur >= 0 {
		m.advance(m.cur)
	}
	if m.err != nil {
		return false
	}
	m.cur = -1
	for i, h := range m.heads {
		if h != nil && (m.cur < 0 || bytes.Compare(h, m.heads[m.cur]) < 0) {
			m.cur = i
		}
	}
	return m.cur >= 0
}

// advance moves iterator i to its next entry and records its encoded key.
func (m *mergeIterator[K, V]) advance(i int) {
	it := m.its[i]
	if !it.Next() {
		m.heads[i] = nil
		if err := it.Err(); err != nil {
			m.err = m.wrap(err)
		}
		return
	}
	kb, err := m.keys.Encode(it.Key())
	if err != nil {
		m.err = fmt.Errorf("runtime: query: encode key: %w", err)
		return
	}
	if kb == nil {
		kb = []byte{}
	}
	m.heads[i] = kb
}

func (m *mergeIterator[K, V]) Key() K {
	if m.cur < 0 || m.cur >= len(m.its) {
		var zero K
		return zero
	}
	return m.its[m.cur].Key()
}

func (m *mergeIterator[K, V]) Value() V {
	if m.cur < 0 || m.cur >= len(m.its) {
		var zero V
		return zero
	}
	return m.its[m.cur].Value()
}

func (m *mergeIterator[K, V]) Err() error { return m.err }

func (m *mergeIterator[K, V]) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, it := range m.its {
		errs = append(errs, it.Close())
	}
	return errors.Join(errs...)
}
