package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// Every state measurement runs in a child process, this binary started with
// stateChildEnv set to a stateChildSpec, so that no run inherits another's heap, page
// cache mappings or Badger goroutines. The child prints one line, "result JSON" with a
// stateResult, or "err MESSAGE", and exits.
const stateChildEnv = "EDDY_BENCH_STATE_CHILD"

// Kinds of state measurement.
const (
	stateOps     = "ops"
	stateRestore = "restore"
	stateRSS     = "rss"
)

// stateChildSpec says what one child measures.
type stateChildSpec struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Dir    string `json:"dir"`
	// Keys is the number of keys loaded (ops), restored (restore) or written per store
	// (rss).
	Keys int `json:"keys"`
	// Shuffled restores keys in a random order rather than in key order.
	Shuffled bool `json:"shuffled,omitempty"`
}

// stateResult is what a child measured; only the fields of its kind are set.
type stateResult struct {
	Put     float64    `json:"put,omitempty"`     // puts/s, commits included
	Get     float64    `json:"get,omitempty"`     // gets/s
	Range   float64    `json:"range,omitempty"`   // ranges/s
	Restore float64    `json:"restore,omitempty"` // records/s
	RSS     []rssStage `json:"rss,omitempty"`
}

// rssStage is the child's resident memory at one point, in kB as /proc reports it.
type rssStage struct {
	Stage      string `json:"stage"`
	VmRSS      int64  `json:"vm_rss"`
	RssAnon    int64  `json:"rss_anon"`
	RssFile    int64  `json:"rss_file"`
	Goroutines int    `json:"goroutines"`
}

// The workload's shape, shared by every target so that they do the same work.
const (
	stateValueSize    = 100
	stateCommitEvery  = 1000
	stateRangeLen     = 100
	stateRanges       = 2000
	stateRestoreBatch = 10_000
	stateRSSStores    = 64
	// stateCacheBytes is the record cache of the cached target: Kafka Streams' default
	// cache.max.bytes.buffering.
	stateCacheBytes = 10 << 20
	// stateRestoreMemTable is the memtable size of the raw target that matches the
	// engine's restore mode (state.DefaultBadgerOptions().RestoreMemTableSize).
	stateRestoreMemTable = 32 << 20
)

func init() {
	if spec := os.Getenv(stateChildEnv); spec != "" {
		// This process is a measurement, not the report; main must not run.
		os.Exit(runStateChild(spec, os.Stdout))
	}
}

func runStateChild(specJSON string, out io.Writer) int {
	res, err := stateChildMeasure(specJSON)
	if err != nil {
		fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	b, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(out, "err %s\n", err)
		return 1
	}
	fmt.Fprintf(out, "result %s\n", b)
	return 0
}

func stateChildMeasure(specJSON string) (stateResult, error) {
	var spec stateChildSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return stateResult{}, fmt.Errorf("spec: %w", err)
	}
	switch spec.Kind {
	case stateOps:
		kv, err := openKVTarget(spec.Target, spec.Dir)
		if err != nil {
			return stateResult{}, err
		}
		res, err := measureOps(kv, spec.Keys)
		return res, errors.Join(err, kv.close())
	case stateRestore:
		r, err := openRestoreTarget(spec.Target, spec.Dir)
		if err != nil {
			return stateResult{}, err
		}
		res, err := measureRestore(r, spec.Keys, spec.Shuffled)
		return res, errors.Join(err, r.close())
	case stateRSS:
		return measureRSS(spec.Dir, spec.Keys)
	}
	return stateResult{}, fmt.Errorf("unknown kind %q", spec.Kind)
}

// stateKey is the key of index i: fixed width, so key order is index order.
func stateKey(i int) string { return fmt.Sprintf("key-%08d", i) }

// kvTarget is a key-value store under test. Writes become durable at commit; get
// reports a missing key as an error; scan reads n entries from key from on and returns
// how many it saw.
type kvTarget struct {
	put    func(key string, value []byte) error
	commit func(n int) error
	get    func(key string) error
	scan   func(from, to string) (int, error)
	close  func() error
}

var errMissing = errors.New("key missing")

// openKVTarget opens target on dir: "typed" and "typed-cache" are a
// state.KeyValueStore[string, []byte] on the Badger provider's engine, without and with
// a record cache; "raw" is a badger.DB with the provider's options.
func openKVTarget(target, dir string) (*kvTarget, error) {
	if target == "raw" {
		return openRawKV(dir)
	}
	var opts []state.Option
	switch target {
	case "typed":
	case "typed-cache":
		opts = append(opts, state.WithCaching(stateCacheBytes))
	default:
		return nil, fmt.Errorf("unknown target %q", target)
	}
	p, err := state.NewBadgerProvider(dir, state.BadgerOptions{})
	if err != nil {
		return nil, err
	}
	e, err := p.Open("0_0", "bench")
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	s := state.NewKeyValueStore("bench", e, serde.String(), serde.Bytes(), opts...)
	return &kvTarget{
		put:    s.Put,
		commit: func(n int) error { return s.Commit(map[string]int64{"bench-0": int64(n)}) },
		get: func(key string) error {
			_, found, err := s.Get(key)
			if err == nil && !found {
				err = fmt.Errorf("%w: %s", errMissing, key)
			}
			return err
		},
		scan: func(from, to string) (int, error) {
			it, err := s.Range(from, to)
			if err != nil {
				return 0, err
			}
			n := 0
			for it.Next() {
				n++
			}
			return n, errors.Join(it.Err(), it.Close())
		},
		close: func() error { return errors.Join(s.Close(), p.Close()) },
	}, nil
}

// rawBadgerOptions mirrors what the state provider opens each store with (see
// state.BadgerOptions), with memTable memtables, in Badger's ordinary (not managed)
// transaction mode.
func rawBadgerOptions(dir string, memTable int64) badger.Options {
	d := state.DefaultBadgerOptions()
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithDetectConflicts(false).
		WithCompression(options.None).
		WithMemTableSize(memTable).
		WithNumMemtables(d.NumMemtables).
		WithBaseTableSize(d.BaseTableSize).
		WithBaseLevelSize(4 * d.BaseTableSize).
		WithBlockCacheSize(d.BlockCacheSize).
		WithIndexCacheSize(0).
		WithValueThreshold(d.ValueThreshold).
		WithValueLogFileSize(d.ValueLogFileSize).
		WithNumCompactors(d.NumCompactors).
		WithLogger(nil)
}

// openRawKV is Badger used directly: the writes of a commit interval go into one
// read-write transaction committed at the interval's end, a get is a read transaction,
// a range an iterator.
func openRawKV(dir string) (*kvTarget, error) {
	db, err := badger.Open(rawBadgerOptions(dir, state.DefaultBadgerOptions().MemTableSize))
	if err != nil {
		return nil, err
	}
	txn := db.NewTransaction(true)
	return &kvTarget{
		put: func(key string, value []byte) error { return txn.Set([]byte(key), value) },
		commit: func(int) error {
			err := txn.Commit()
			txn = db.NewTransaction(true)
			return err
		},
		get: func(key string) error {
			return db.View(func(txn *badger.Txn) error {
				item, err := txn.Get([]byte(key))
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				_, err = item.ValueCopy(nil)
				return err
			})
		},
		scan: func(from, to string) (int, error) {
			txn := db.NewTransaction(false)
			defer txn.Discard()
			// Values are read one by one with ValueCopy, as the engine does; Badger's
			// prefetch would copy them into items first.
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			n := 0
			for it.Seek([]byte(from)); it.Valid() && bytes.Compare(it.Item().Key(), []byte(to)) <= 0; it.Next() {
				if _, err := it.Item().ValueCopy(nil); err != nil {
					return n, err
				}
				n++
			}
			return n, nil
		},
		close: func() error {
			txn.Discard()
			return db.Close()
		},
	}, nil
}

// measureOps puts keys keys in a shuffled order (committing every stateCommitEvery),
// gets each once in another order, then reads stateRanges ranges of stateRangeLen keys
// from random starting points.
func measureOps(kv *kvTarget, keys int) (stateResult, error) {
	var res stateResult
	if keys < stateRangeLen {
		return res, fmt.Errorf("keys %d: need at least %d", keys, stateRangeLen)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(keys)
	names := make([]string, keys)
	for i := range names {
		names[i] = stateKey(i)
	}

	runtime.GC()
	start := time.Now()
	for n, i := range order {
		// A value of its own per put, as a caller's would be: Badger keeps it until the
		// transaction commits.
		value := make([]byte, stateValueSize)
		value[0], value[1], value[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := kv.put(names[i], value); err != nil {
			return res, fmt.Errorf("put: %w", err)
		}
		if (n+1)%stateCommitEvery == 0 {
			if err := kv.commit(n + 1); err != nil {
				return res, fmt.Errorf("commit: %w", err)
			}
		}
	}
	if err := kv.commit(keys); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.Put = float64(keys) / time.Since(start).Seconds()

	order = rng.Perm(keys)
	runtime.GC()
	start = time.Now()
	for _, i := range order {
		if err := kv.get(names[i]); err != nil {
			return res, fmt.Errorf("get: %w", err)
		}
	}
	res.Get = float64(keys) / time.Since(start).Seconds()

	starts := make([]int, stateRanges)
	for i := range starts {
		starts[i] = rng.IntN(keys - stateRangeLen + 1)
	}
	runtime.GC()
	start = time.Now()
	for _, i := range starts {
		n, err := kv.scan(names[i], names[i+stateRangeLen-1])
		if err != nil {
			return res, fmt.Errorf("range: %w", err)
		}
		if n != stateRangeLen {
			return res, fmt.Errorf("range from %s: %d entries, want %d", names[i], n, stateRangeLen)
		}
	}
	res.Range = stateRanges / time.Since(start).Seconds()
	return res, nil
}

// restoreTarget writes one batch of a restore; done ends the restore.
type restoreTarget struct {
	batch func(b []state.KV, n int) error
	done  func(n int) error
	close func() error
}

// openRestoreTarget opens target on dir: "engine" is the Badger provider's Restorer
// with its default options; "raw" and "raw-32MiB" are a badger.DB with the provider's
// options and 2 MiB or 32 MiB memtables, written through a WriteBatch per batch.
func openRestoreTarget(target, dir string) (*restoreTarget, error) {
	switch target {
	case "engine":
		p, err := state.NewBadgerProvider(dir, state.BadgerOptions{})
		if err != nil {
			return nil, err
		}
		e, err := p.Open("0_0", "bench")
		if err != nil {
			return nil, errors.Join(err, p.Close())
		}
		r, ok := e.(state.Restorer)
		if !ok {
			return nil, errors.Join(errors.New("the Badger engine is not a Restorer"), p.Close())
		}
		offsets := func(n int) map[string]int64 { return map[string]int64{"bench-0": int64(n)} }
		return &restoreTarget{
			batch: func(b []state.KV, n int) error { return r.Restore(b, offsets(n)) },
			// The first Commit after a restore returns the store to its ordinary
			// memtables, flushing the restore's last one: part of the restore's cost.
			done:  func(n int) error { return e.Commit(offsets(n)) },
			close: p.Close,
		}, nil
	case "raw", "raw-32MiB":
		mem := state.DefaultBadgerOptions().MemTableSize
		if target != "raw" {
			mem = stateRestoreMemTable
		}
		db, err := badger.Open(rawBadgerOptions(dir, mem))
		if err != nil {
			return nil, err
		}
		return &restoreTarget{
			batch: func(b []state.KV, _ int) error {
				wb := db.NewWriteBatch()
				defer wb.Cancel()
				for _, kv := range b {
					if err := wb.Set(kv.Key, kv.Value); err != nil {
						return err
					}
				}
				return wb.Flush()
			},
			// Closing flushes the last memtable and waits for a running compaction, as
			// the engine's return to ordinary memtables does.
			done:  func(int) error { return db.Close() },
			close: func() error { return nil },
		}, nil
	}
	return nil, fmt.Errorf("unknown target %q", target)
}

// measureRestore restores records records with 100-byte values in batches of
// stateRestoreBatch, keys in key order or shuffled.
func measureRestore(r *restoreTarget, records int, shuffled bool) (stateResult, error) {
	order := make([]int, records)
	for i := range order {
		order[i] = i
	}
	if shuffled {
		rng := rand.New(rand.NewPCG(3, 4))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	batches := make([][]state.KV, 0, records/stateRestoreBatch+1)
	for len(order) > 0 {
		n := min(stateRestoreBatch, len(order))
		b := make([]state.KV, n)
		for j, i := range order[:n] {
			v := make([]byte, stateValueSize)
			v[0], v[1], v[2] = byte(i), byte(i>>8), byte(i>>16)
			b[j] = state.KV{Key: []byte(stateKey(i)), Value: v}
		}
		batches = append(batches, b)
		order = order[n:]
	}
	runtime.GC()
	start := time.Now()
	done := 0
	for _, b := range batches {
		done += len(b)
		if err := r.batch(b, done); err != nil {
			return stateResult{}, fmt.Errorf("restore: %w", err)
		}
	}
	if err := r.done(done); err != nil {
		return stateResult{}, fmt.Errorf("restore: %w", err)
	}
	return stateResult{Restore: float64(records) / time.Since(start).Seconds()}, nil
}

// measureRSS opens stateRSSStores stores with the provider's default options, writes
// keys keys of 100-byte values into each through a KeyValueStore (committing every
// stateCommitEvery), and reads the process's resident memory after each step, after a
// GC that returns freed heap to the system, so that garbage not yet collected does not
// count.
func measureRSS(dir string, keys int) (stateResult, error) {
	var res stateResult
	sample := func(stage string) error {
		runtime.GC()
		debug.FreeOSMemory()
		s, err := readRSS()
		if err != nil {
			return err
		}
		s.Stage, s.Goroutines = stage, runtime.NumGoroutine()
		res.RSS = append(res.RSS, s)
		return nil
	}
	if err := sample("process started, no store open"); err != nil {
		return res, err
	}
	p, err := state.NewBadgerProvider(dir, state.BadgerOptions{})
	if err != nil {
		return res, err
	}
	defer p.Close()
	stores := make([]*state.KeyValueStore[string, []byte], stateRSSStores)
	for i := range stores {
		e, err := p.Open(fmt.Sprintf("0_%d", i), "store")
		if err != nil {
			return res, err
		}
		stores[i] = state.NewKeyValueStore("store", e, serde.String(), serde.Bytes())
	}
	if err := sample(fmt.Sprintf("%d stores open, empty", stateRSSStores)); err != nil {
		return res, err
	}
	value := make([]byte, stateValueSize)
	for _, s := range stores {
		for k := range keys {
			value[0], value[1], value[2] = byte(k), byte(k>>8), byte(k>>16)
			if err := s.Put(stateKey(k), value); err != nil {
				return res, err
			}
			if (k+1)%stateCommitEvery == 0 {
				if err := s.Commit(map[string]int64{"c": int64(k + 1)}); err != nil {
					return res, err
				}
			}
		}
		if err := s.Commit(map[string]int64{"c": int64(keys)}); err != nil {
			return res, err
		}
	}
	err = sample(fmt.Sprintf("%s keys written to each (%.0f MB of values in all)",
		thousands(float64(keys)), float64(stateRSSStores*keys*stateValueSize)/1e6))
	return res, err
}

// readRSS reads VmRSS, RssAnon and RssFile from /proc/self/status.
func readRSS() (rssStage, error) {
	var s rssStage
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return s, err
	}
	defer f.Close()
	fields := map[string]*int64{"VmRSS": &s.VmRSS, "RssAnon": &s.RssAnon, "RssFile": &s.RssFile}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), ":")
		if p, ok := fields[name]; ok {
			v := strings.Fields(val)
			if len(v) == 0 {
				return s, fmt.Errorf("/proc/self/status: empty %s", name)
			}
			if *p, err = strconv.ParseInt(v[0], 10, 64); err != nil {
				return s, fmt.Errorf("/proc/self/status: %s: %w", name, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if s.VmRSS == 0 {
		return s, errors.New("/proc/self/status: no VmRSS")
	}
	return s, nil
}
