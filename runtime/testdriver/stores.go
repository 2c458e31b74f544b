package testdriver

import (
	"errors"
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/state"
)

// GetStore returns store name of the task with that partition as S, the concrete
// store type the store's builder makes (*state.KeyValueStore[K, V],
// *state.WindowStore[K, V], ...). A global store is found whatever the partition. The
// store is the live one: read it, do not write it.
func (d *Driver) GetStore[S any](name string, partition int32) (S, error) {
	var zero S
	if err := d.check(); err != nil {
		return zero, err
	}
	if d.global != nil {
		if s, err := runtime.GetStore[S](d.global, name); err == nil {
			return s, nil
		}
	}
	for _, t := range d.tasks {
		id := t.task.ID()
		if id.Partition != partition {
			continue
		}
		if _, err := t.task.Store(name); err != nil {
			continue
		}
		return runtime.GetStore[S](t.task, name)
	}
	return zero, fmt.Errorf("%w: no task of partition %d has store %q", runtime.ErrUnknownStore, partition, name)
}

// KeyValueStoreView reads one key-value store across all the tasks that hold a
// partition of it, as interactive queries over a whole application would.
type KeyValueStoreView[K, V any] struct {
	name   string
	stores []*state.KeyValueStore[K, V] // by partition
}

// ReadKeyValueStore returns a view of the key-value store name (built by
// runtime.KeyValueStoreBuilder[K, V]) over every task.
func (d *Driver) ReadKeyValueStore[K, V any](name string) (*KeyValueStoreView[K, V], error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if d.global != nil {
		if s, err := runtime.GetStore[*state.KeyValueStore[K, V]](d.global, name); err == nil {
			return &KeyValueStoreView[K, V]{name: name, stores: []*state.KeyValueStore[K, V]{s}}, nil
		}
	}
	v := &KeyValueStoreView[K, V]{name: name}
	for _, t := range d.tasks {
		if _, err := t.task.Store(name); err != nil {
			continue
		}
		s, err := runtime.GetStore[*state.KeyValueStore[K, V]](t.task, name)
		if err != nil {
			return nil, err
		}
		v.stores = append(v.stores, s)
	}
	if len(v.stores) == 0 {
		return nil, fmt.Errorf("%w: %q", runtime.ErrUnknownStore, name)
	}
	return v, nil
}

// Get returns the value of key from the first partition (in partition order) that
// holds it; keys partitioned by the topology are held by one.
func (v *KeyValueStoreView[K, V]) Get(key K) (value V, found bool, err error) {
	for _, s := range v.stores {
		if value, found, err = s.Get(key); err != nil || found {
			return value, found, err
		}
	}
	return value, false, nil
}

// All returns every entry, partition by partition, each partition in the store's key
// order.
func (v *KeyValueStoreView[K, V]) All() ([]KeyValue[K, V], error) {
	var out []KeyValue[K, V]
	for _, s := range v.stores {
		it, err := s.All()
		if err != nil {
			return out, err
		}
		for it.Next() {
			out = append(out, KeyValue[K, V]{Key: it.Key(), Value: it.Value()})
		}
		if err := errors.Join(it.Err(), it.Close()); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ApproximateNumEntries sums the partitions' estimates.
func (v *KeyValueStoreView[K, V]) ApproximateNumEntries() int64 {
	var n int64
	for _, s := range v.stores {
		n += s.ApproximateNumEntries()
	}
	return n
}

// Partitions returns the number of tasks holding the store.
func (v *KeyValueStoreView[K, V]) Partitions() int { return len(v.stores) }
