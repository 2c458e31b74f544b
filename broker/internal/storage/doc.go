// Package storage is the broker's partition log: an append-only sequence of
// Kafka record batches (magic 2) on local disk. It knows the batch format,
// which is its storage format, and nothing of the request protocol.
//
// # On-disk layout
//
// Each partition is one directory:
//
//	00000000000000000000.log        segment: batches with offsets from 0
//	00000000000000000000.index      sparse offset index of a closed segment
//	00000000000000000000.timeindex  sparse time index of a closed segment
//	00000000000000000000.txnindex   aborted transactions whose ABORT marker is in the segment
//	00000000000000052113.log        the active (last) segment
//	00000000000000052113.snapshot   producer state (sequences, open transactions) as of offset 52113
//	log-start-offset                set by DeleteRecordsBefore
//	cleaner-checkpoint              compacted topics: offset below which the log is clean, and
//	                                when each cleaned segment was first cleaned (tombstone clock)
//
// Files are named by a 20-digit offset, like Kafka's. A segment holds the
// batches exactly as producers sent them, except that the broker writes the
// base offset and, for LogAppendTime topics, the timestamp (attributes bit 3,
// max timestamp, CRC). Batches are contiguous: a segment's next offset is the
// following segment's base offset.
//
// An index entry is added for a batch when IndexIntervalBytes have been
// appended since the previous entry. The .index file holds (relative offset
// uint32, position uint32) pairs; the .timeindex file holds (timestamp int64,
// relative offset uint32) for the same batches, where the timestamp is the
// newest record timestamp in the segment before that batch, plus a final
// entry (the segment's newest timestamp, its end). Entries live in memory;
// the files are written when a segment is rolled and on Close. On Open they
// are checked against their segment and rebuilt by a header scan if missing
// or inconsistent. The active segment's indexes are always rebuilt, because
// Open reads that segment anyway: it checks every batch's length, magic,
// CRC-32C and offset, and truncates the file after the last good batch.
//
// A producer snapshot is written on every roll and on Close (the two newest
// are kept); Open loads the newest one not beyond the log end and replays the
// batch headers written after it.
//
// # Transactions
//
// A transactional batch opens its producer's transaction in the partition; a COMMIT or
// ABORT control batch (AppendMarker) ends it. The last stable offset is the high
// watermark or the first offset of the oldest transaction not yet ended by a durable
// marker, whichever is lower; ReadCommitted reads up to it and returns the aborted
// transactions overlapping what it read. An aborted transaction is indexed in the
// .txnindex of the segment holding its ABORT marker; the file is written on roll and
// Close, the active segment's entries live in the producer snapshot, and Open rebuilds
// what is missing or stale by a header scan. Open transactions survive restart in the
// producer snapshot plus the replay of the headers after it.
//
// # Compaction
//
// Clean keeps the newest record of each key in the closed segments of a compacted log,
// keeps every record's offset, drops tombstones DeleteRetention after their segment was
// first cleaned, and drops aborted transactional records. A cleaned segment is written to
// a .cleaned.tmp file, fsynced and renamed over the old one under the segment lock, so
// readers see the old file or the new, never a mix; Open deletes a leftover temp file
// and the pass is redone, since the checkpoint is written last.
//
// Segments roll when a batch would push them past SegmentBytes, when they are
// older than SegmentAge, or when their relative offsets would overflow.
// Retention deletes whole closed segments from the oldest: by their newest
// record timestamp (RetentionAge) and by total size (RetentionBytes).
//
// # Fsync policies and their loss windows
//
// FsyncAlways: a batch becomes visible to readers (the high watermark moves
// past it) only after an fsync, and WaitDurable returns only then, so an
// acknowledged batch survives a crash or power loss: no loss of acknowledged
// data. Concurrent producers share fsyncs (group commit): the first waiter
// fsyncs everything appended so far while the rest wait for its result.
//
// FsyncInterval: readers see a batch at once; a background fsync runs every
// FsyncInterval. A process crash loses nothing (the data is in the page
// cache); a power loss loses up to FsyncInterval of acknowledged data.
//
// FsyncOS: the log never fsyncs on the append path and the kernel writes
// pages back on its own schedule. A process crash loses nothing; a power loss
// loses what the kernel had not yet written, typically up to ~30 s on Linux
// (vm.dirty_expire_centisecs). Closed segments are fsynced in the background
// when rolled, so only the active segment can be torn.
//
// Under every policy Close fsyncs everything, and after a power loss Open
// cuts the active segment back to its last intact batch.
package storage
