// Package journal is the durable append-only log behind the broker's coordinators'
// state: the group coordinator's committed offsets and the transaction coordinator's
// transaction states. Records are opaque payloads to it; each owner keeps its own
// record kinds, their encoding (helped by Decoder) and the state they rebuild.
//
// The file is a header (the owner's magic string) and records, each framed as length
// (uint32), CRC-32C of the payload (uint32), payload, so a write torn by a crash is
// recognised on open and cut off. Writers that want durability share fsyncs: whoever
// waits while one runs is often covered by the next. When the file has grown to twice
// its size after the last compaction (and at least Options.MinCompact), it is rewritten
// as the owner's snapshot of its live records and renamed over the old one.
package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// FrameOverhead is what a record takes on disk beyond its payload: length and CRC.
const FrameOverhead = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configures a Journal.
type Options struct {
	// Dir holds the log; it is created if missing.
	Dir string
	// File is the log's name in Dir; File+".tmp" is the compaction's scratch file.
	File string
	// Magic is the header the file starts with, telling one owner's log from another.
	Magic string
	// Sync makes Wait return only once the record is on disk.
	Sync bool
	// MinCompact is the size below which the log is never compacted by Wait.
	MinCompact int64
	// Snapshot yields the payloads that replace the log when it is compacted: the
	// owner's live state. It runs with the journal locked; a payload may be reused once
	// yield returns.
	Snapshot iter.Seq[[]byte]
	// Logger receives the journal's logs.
	Logger *slog.Logger
	// Owner and Name make the journal's errors and logs read as the owner's: "group"
	// and "offsets log" give "group: open offsets log: ...".
	Owner, Name string
	// ErrCorrupt is wrapped by the errors of a log that cannot be trusted (not a torn
	// tail), and ErrClosed is returned after Close: the owner's sentinels.
	ErrCorrupt, ErrClosed error
}

// Journal is an open log. Its lock also guards the owner's state that records change,
// so that records are applied in the order they are logged and a compaction's
// snapshot holds every record it replaces.
type Journal struct {
	opts Options
	path string
	log  *slog.Logger

	// syncSem admits one fsync or compaction at a time; writers that arrive while one
	// runs wait for it and are often covered by the next, so they share one fsync.
	syncSem chan struct{}
	synced  atomic.Uint64 // records known to be on disk

	mu        sync.Mutex
	f         *os.File
	size      int64
	written   uint64 // records appended
	compactAt int64
	err       error // sticky: an I/O failure left the log in an unknown state
	closed    bool
	buf       []byte
}

// Open opens the log, creating it if missing, and passes each record's payload, in
// order, to replay; the payloads are not reused, so replay may keep them. A torn tail
// is cut off. An error from replay, like a bad header, is a log that cannot be
// trusted: Open then fails with an error wrapping Options.ErrCorrupt.
func Open(opts Options, replay func(payload []byte) error) (*Journal, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %s dir: %w", opts.Owner, opts.Name, err)
	}
	j := &Journal{
		opts:    opts,
		path:    filepath.Join(opts.Dir, opts.File),
		log:     opts.Logger,
		syncSem: make(chan struct{}, 1),
	}
	// A leftover from a compaction that did not finish; the log it was to replace is intact.
	if err := os.Remove(j.path + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", opts.Owner, err)
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", opts.Owner, opts.Name, err)
	}
	j.f = f
	if err := j.load(replay); err != nil {
		f.Close()
		return nil, err
	}
	j.compactAt = max(opts.MinCompact, 2*j.size)
	return j, nil
}

// load replays the log and truncates a torn tail.
func (j *Journal) load(replay func(payload []byte) error) error {
	data, err := io.ReadAll(j.f)
	if err != nil {
		return j.errorf("read %s", err)
	}
	magic := j.opts.Magic
	if len(data) < len(magic) {
		if !bytes.HasPrefix([]byte(magic), data) {
			return fmt.Errorf("%w: bad header", j.opts.ErrCorrupt)
		}
		// New, or torn while being created.
		if err := j.f.Truncate(0); err != nil {
			return j.errorf("%s", err)
		}
		if _, err := j.f.Write([]byte(magic)); err != nil {
			return j.errorf("%s", err)
		}
		if err := j.f.Sync(); err != nil {
			return j.errorf("%s", err)
		}
		if err := syncDir(j.opts.Owner, j.opts.Dir); err != nil {
			return err
		}
		j.size = int64(len(magic))
		return nil
	}
	if string(data[:len(magic)]) != magic {
		return fmt.Errorf("%w: bad header", j.opts.ErrCorrupt)
	}
	pos := len(magic)
	for pos < len(data) {
		rest := data[pos:]
		if len(rest) < FrameOverhead {
			break
		}
		n := binary.BigEndian.Uint32(rest)
		if n == 0 || uint64(n) > uint64(len(rest)-FrameOverhead) {
			break
		}
		payload := rest[FrameOverhead : FrameOverhead+int(n)]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			break
		}
		if err := replay(payload); err != nil {
			return fmt.Errorf("%w: record at byte %d: %w", j.opts.ErrCorrupt, pos, err)
		}
		pos += FrameOverhead + int(n)
	}
	if pos < len(data) {
		j.log.Warn(j.opts.Name+" has a torn tail; truncating", "valid_bytes", pos, "dropped_bytes", len(data)-pos)
		if err := j.f.Truncate(int64(pos)); err != nil {
			return j.errorf("truncate %s", err)
		}
		if err := j.f.Sync(); err != nil {
			return j.errorf("%s", err)
		}
	}
	j.size = int64(pos)
	return nil
}

// errorf wraps err as the owner's error about its log; what names the failed step
// with a %s for the log's name.
func (j *Journal) errorf(what string, err error) error {
	return fmt.Errorf("%s: %s: %w", j.opts.Owner, fmt.Sprintf(what, j.opts.Name), err)
}

// Lock locks the journal, and with it the owner's state it guards.
func (j *Journal) Lock() { j.mu.Lock() }

// Unlock unlocks the journal.
func (j *Journal) Unlock() { j.mu.Unlock() }

// AppendLocked logs payload and returns the record's sequence number for Wait; the
// journal is locked, so that the owner applies the record before anyone else logs.
// Nothing is logged when it fails.
func (j *Journal) AppendLocked(payload []byte) (uint64, error) {
	if j.closed {
		return 0, j.opts.ErrClosed
	}
	if j.err != nil {
		return 0, j.err
	}
	j.buf = appendFrame(j.buf[:0], payload)
	if _, err := j.f.Write(j.buf); err != nil {
		// Cut off whatever part was written, or later records would follow garbage.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.err = j.errorf("%s unusable", errors.Join(err, terr))
		}
		return 0, j.errorf("write %s", err)
	}
	j.size += int64(len(j.buf))
	j.written++
	return j.written, nil
}

func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// Written is the sequence number of the latest record, for a Wait that must cover
// everything logged so far.
func (j *Journal) Written() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.written
}

// Size is the log's size in bytes.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Close syncs and closes the log.
func (j *Journal) Close() error {
	j.syncSem <- struct{}{}
	defer func() { <-j.syncSem }()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var err error
	if j.err == nil {
		if serr := j.f.Sync(); serr != nil {
			err = j.errorf("fsync %s", serr)
		}
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = j.errorf("close %s", cerr)
	}
	return err
}

func syncDir(owner, dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: sync dir: %w", owner, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%s: sync dir: %w", owner, err)
	}
	return nil
}
