// Package state holds the local state of stream tasks: byte-level engines (Badger on
// disk, a B-tree in memory), the typed stores built on them, and the changelogging and
// caching layers. It knows nothing of Kafka or the runtime.
//
// # Engines
//
// An Engine is one store of one task, opened through a Provider. NewMemoryProvider
// keeps each store in a copy-on-write B-tree (github.com/google/btree). Iterators read
// the tree in place, and a write made while one may still read it first moves the
// engine to an O(1) Clone, so iterators see a snapshot without every lookup making the
// next write copy its path; a store reopened from the same provider is at its last
// Commit. NewBadgerProvider keeps state on disk.
//
// # One Badger instance per task and store
//
// The Badger provider opens one instance per (task, store) under dir/<task>/<store>.
// Dropping a store is closing it and removing its directory, with no effect on other
// tasks; a shared instance with key prefixes would need DropPrefix, which stops writes
// and flushes memtables for every task, or a tombstone per key. The price is a fixed
// cost per instance (goroutines, files, memtables), kept small by the defaults of
// BadgerOptions: 2 MiB memtables (two per store), 2 MiB tables, no compression and so
// no block cache (tables are read through mmap), 64 KiB value threshold, 16 MiB value
// log files, two compactors, Badger logging off (or to slog, Info as Debug). A store
// in the middle of a bulk restore holds up to 64 MiB more (see Bulk restore).
//
// Measured by TestBadgerRSS64Stores (64 stores in a fresh process, 100-byte values,
// VmRSS from /proc/self/status after a GC; 2-core VM shared with other jobs):
//
//	64 stores open, empty          VmRSS  21-24 MiB (anon  9-12, file 12), 770 goroutines
//	+  2,000 keys each (15 MiB)    VmRSS  60 MiB (anon  32, file  28), checked on every run
//	+  5,000 keys each (38 MiB)    VmRSS 118 MiB (anon  66, file  53)
//	+ 20,000 keys each (154 MiB)   VmRSS 337 MiB (anon 207, file 131)
//	+ 50,000 keys each (384 MiB)   VmRSS 613 MiB (anon 218, file 396)
//
// Anonymous memory levels off near 220 MiB (memtables, overlays, table indexes and
// bloom filters). File-backed RSS is Badger's mmap of its table files and grows with
// the data; the kernel reclaims those clean pages under pressure, but VmRSS counts
// them, so 64 tasks stay within 512 MiB of VmRSS up to about 4 MiB of state each, and
// beyond that only the anonymous part is bounded. Raw Badger with its default options (64 MiB
// memtables, 256 MiB block cache per instance) measured 241 MiB after 10,000 keys per
// store with memtables nowhere near full; its bound is 64 x 2 x 64 MiB of memtables.
//
// # The commit point
//
// Each Badger instance runs in managed mode: the engine picks every version. Writes
// go to an in-memory overlay (puts and tombstones) that Get and Iterate merge over
// Badger, so reads see writes at once. The overlay spills to Badger at a new version
// when it passes MaxPendingBytes. Commit writes a marker holding the offsets and its
// own version, with SyncWrites on so the marker is durable together with everything
// before it; an overlay that fits in one Badger transaction (about 300 KiB with the
// default memtables) goes in the marker's transaction, which Badger replays whole or
// not at all, and a larger one is spilled first. Every version above the last marker
// is uncommitted: on open, an engine whose Badger holds newer versions (a crash after
// a spill, or in the middle of a Restore) rewrites each key written since to its value
// at the marker and seals that with a new marker. No commit ever has to fit in one
// Badger transaction, so there is no ErrTxnTooBig path and no "dirty, restore
// everything" state. TestBadgerCrash SIGKILLs a writer at random moments and checks
// that each reopen holds exactly the rounds its offsets name, once for a writer that
// commits and once for one that enters and leaves restore mode (see Bulk restore) every
// other round; it found dgraph-io/badger#2207 (a kill right after Badger creates a
// memtable file fails the next open once), which Open works around by retrying.
//
// Commit cost (BenchmarkBadgerCommit, ext4 on a virtual disk, medians of 3 runs on the
// shared machine): about 0.21 ms with nothing written and 0.23 ms after 10 writes (one
// synced write each; 0.42 ms after 10 writes when the overlay was spilled first), 3.6 ms
// for 1,000 Puts and their Commit.
//
// Iterators read a Badger snapshot at the version current when Iterate was called plus
// the overlay as it was then, shared as the memory engine's tree is; Badger may discard
// old versions below the last commit and the oldest open iterator's version.
//
// # Bulk restore
//
// Engines from both providers implement Restorer: the runtime passes changelog
// batches (a nil value is a tombstone) with the offsets they reach. The Badger engine
// keeps the last record of each key in the batch, writes them through a managed
// WriteBatch at one new version and then writes the marker, so a crash mid-batch rolls
// back to the previous Restore or Commit.
//
// Most of a restore's time goes to Badger: inserting into the memtable's skiplist,
// building a level-0 table from each full memtable, and compacting those tables (each
// synced with msync). With 2 MiB memtables a restore makes a level-0 table every
// 15,000 records or so and keeps the compactors busy, so a batch of at least a quarter
// memtable reopens the instance with RestoreMemTableSize memtables (32 MiB; up to two
// of them, so 64 MiB per restoring store); the first call other than Restore, Get or
// CommittedOffsets reopens it with MemTableSize again. A reopen costs about 10 ms,
// which is why small batches (a short changelog tail) do not switch. SyncWrites stays
// on while restoring: with it off, DB.Sync syncs only the newest memtable's log, so a
// memtable rotated out during a batch could lose records to a power failure after the
// marker had been made durable; it would save 5-10%.
//
// BenchmarkBadgerRestore (100-byte values, batches of 10,000 keys in key order, 1M
// records per run, timed until the Commit after the last batch; medians of 5 runs on
// the 2-core machine shared with other jobs, load average about 2.5; spread in brackets):
//
//	before (one version per record, 2 MiB memtables)   301,000 records/s (250k-361k)
//	restore mode off (RestoreMemTableSize -1)          291,000 records/s (239k-350k)
//	restore mode (default)                             434,000 records/s (368k-513k)
//
// At quieter moments restore mode measured 510,000-550,000 records/s. With keys in
// a shuffled order every table overlaps every other and the skiplist inserts miss the
// cache, and raw Badger itself does about 290,000 records/s with 32 MiB memtables; the
// State stores section of BENCHMARKS.md measures both orders against raw Badger.
package state
