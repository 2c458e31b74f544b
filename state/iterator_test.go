package state

import (
	"bytes"
	"testing"
)

// storeEngines are the engines every store behaviour test runs against. Badger gets
// a tiny write overlay so that reads merge data spilled to Badger too.
var storeEngines = []struct {
	name     string
	provider func(t *testing.T) Provider
}{
	{"memory", func(t *testing.T) Provider { return NewMemoryProvider() }},
	{"badger", func(t *testing.T) Provider {
		p, err := NewBadgerProvider(t.TempDir(), BadgerOptions{MemTableSize: 1 << 20, MaxPendingBytes: 256})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
}

// forEachStoreEngine runs f once per engine, each with a fresh provider closed at the end.
func forEachStoreEngine(t *testing.T, f func(t *testing.T, p Provider)) {
	for _, ec := range storeEngines {
		t.Run(ec.name, func(t *testing.T) {
			p := ec.provider(t)
			t.Cleanup(func() { p.Close() })
			f(t, p)
		})
	}
}

// openStoreEngine opens a store's engine or fails the test.
func openStoreEngine(t *testing.T, p Provider, name string) Engine {
	t.Helper()
	e, err := p.Open("0_0", name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return e
}

// collectKV reads an iterator to the end and closes it.
func collectKV[K, V any](it KeyValueIterator[K, V], err error) ([]KeyValue[K, V], error) {
	if err != nil {
		return nil, err
	}
	var out []KeyValue[K, V]
	for it.Next() {
		out = append(out, KeyValue[K, V]{it.Key(), it.Value()})
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// engineKeys lists an engine's keys in order.
func engineKeys(t *testing.T, e Engine) [][]byte {
	t.Helper()
	it, err := e.Iterate(nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out [][]byte
	for it.Next() {
		out = append(out, bytes.Clone(it.Key()))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
