package group

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The committed offsets live in memory and in one append-only log file. Each record is
// framed as length (uint32), CRC-32C of the payload (uint32), payload, so a write torn by
// a crash is recognised on open and cut off. When the file has grown well past what is
// live, it is rewritten as one commit record per group, plus the transactions' pending
// offsets, and renamed over the old one.
const (
	logFile         = "offsets.log"
	logMagic        = "eddyoff1"
	frameHeaderSize = 8
	minCompactBytes = 4 << 20
)

// Errors of the offsets store.
var (
	// ErrCorrupt reports an offsets log that cannot be trusted (not a torn tail).
	ErrCorrupt     = errors.New("group: offsets log corrupt")
	errStoreClosed = errors.New("group: offsets store closed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// store is the durable table of committed offsets, group -> topic -> partition, and of
// the pending offsets of ongoing transactions.
type store struct {
	dir      string
	syncEach bool
	log      *slog.Logger
	now      func() time.Time // stamps records

	// syncSem admits one fsync or compaction at a time; commits that arrive while one
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
	offsets   map[string]partitionOffsets
	// pending holds transactional offsets until their transaction ends: group ->
	// producer ID -> offsets.
	pending map[string]map[int64]partitionOffsets
	// activity is kept for the groups with committed or pending offsets and those with
	// members.
	activity map[string]activity
	order    uint64 // records applied; the next record's order
}

func openStore(dir string, syncEach bool, log *slog.Logger, now func() time.Time) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("group: offsets dir: %w", err)
	}
	s := &store{
		dir:      dir,
		syncEach: syncEach,
		log:      log,
		now:      now,
		syncSem:  make(chan struct{}, 1),
		offsets:  map[string]partitionOffsets{},
		pending:  map[string]map[int64]partitionOffsets{},
		activity: map[string]activity{},
	}
	path := filepath.Join(dir, logFile)
	// A leftover from a compaction that did not finish; the log it was to replace is intact.
	if err := os.Remove(path + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("group: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("group: open offsets log: %w", err)
	}
	s.f = f
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	if err := s.restartClocks(); err != nil {
		f.Close()
		return nil, err
	}
	if s.size > minCompactBytes {
		s.mu.Lock()
		err := s.compactLocked()
		s.mu.Unlock()
		if err != nil {
			s.f.Close()
			return nil, err
		}
	}
	s.compactAt = max(minCompactBytes, 2*s.size)
	return s, nil
}

// load replays the log into memory and truncates a torn tail.
func (s *store) load() error {
	data, err := io.ReadAll(s.f)
	if err != nil {
		return fmt.Errorf("group: read offsets log: %w", err)
	}
	if len(data) < len(logMagic) {
		if !bytes.HasPrefix([]byte(logMagic), data) {
			return fmt.Errorf("%w: bad header", ErrCorrupt)
		}
		// New, or torn while being created.
		if err := s.f.Truncate(0); err != nil {
			return fmt.Errorf("group: offsets log: %w", err)
		}
		if _, err := s.f.Write([]byte(logMagic)); err != nil {
			return fmt.Errorf("group: offsets log: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("group: offsets log: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return err
		}
		s.size = int64(len(logMagic))
		return nil
	}
	if string(data[:len(logMagic)]) != logMagic {
		return fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	pos := len(logMagic)
	records := 0
	for pos < len(data) {
		rest := data[pos:]
		if len(rest) < frameHeaderSize {
			break
		}
		n := binary.BigEndian.Uint32(rest)
		if n == 0 || uint64(n) > uint64(len(rest)-frameHeaderSize) {
			break
		}
		payload := rest[frameHeaderSize : frameHeaderSize+int(n)]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			break
		}
		o, err := decodeOp(payload)
		if err != nil {
			return fmt.Errorf("%w: record at byte %d: %w", ErrCorrupt, pos, err)
		}
		s.apply(&o)
		pos += frameHeaderSize + int(n)
		records++
	}
	if pos < len(data) {
		s.log.Warn("offsets log has a torn tail; truncating", "valid_bytes", pos, "dropped_bytes", len(data)-pos)
		if err := s.f.Truncate(int64(pos)); err != nil {
			return fmt.Errorf("group: truncate offsets log: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("group: offsets log: %w", err)
		}
	}
	s.size = int64(pos)
	s.log.Debug("offsets loaded", "records", records, "groups", len(s.offsets))
	return nil
}

// restartClocks logs that every group is without members as of now, which it is until
// a member joins, for the groups whose log says they had members (the broker stopped
// under them) or does not say when they were last used (it predates opTimed). Their
// offsets' retention counts from now, also across later restarts.
func (s *store) restartClocks() error {
	var stale []string
	for g, a := range s.activity {
		if a.members || a.last == 0 {
			stale = append(stale, g)
		}
	}
	for _, g := range stale {
		if _, err := s.write(&op{kind: opMembers, group: g}); err != nil {
			return err
		}
	}
	return nil
}

// write logs o and applies it. It returns the record's sequence number for flush.
// Nothing is logged or applied when the write fails.
func (s *store) write(o *op) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStoreClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	o.at = max(s.now().UnixMilli(), 1) // 0 would mean unknown, and less is no record
	s.buf = append(s.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	s.buf = o.encode(s.buf)
	payload := s.buf[frameHeaderSize:]
	binary.BigEndian.PutUint32(s.buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(s.buf[4:], crc32.Checksum(payload, castagnoli))
	if _, err := s.f.Write(s.buf); err != nil {
		// Cut off whatever part was written, or later records would follow garbage.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.err = fmt.Errorf("group: offsets log unusable: %w", errors.Join(err, terr))
		}
		return 0, fmt.Errorf("group: write offsets log: %w", err)
	}
	s.size += int64(len(s.buf))
	s.written++
	s.apply(o)
	return s.written, nil
}

// flush makes record seq durable when the store syncs every commit, and compacts the
// log when it is due. Call it without holding group locks.
func (s *store) flush(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	due := s.size >= s.compactAt
	s.mu.Unlock()
	if due {
		if err := s.compact(ctx); err != nil {
			return err
		}
	}
	if !s.syncEach {
		return nil
	}
	return s.waitSynced(ctx, seq)
}

func (s *store) waitSynced(ctx context.Context, seq uint64) error {
	for s.synced.Load() < seq {
		select {
		case s.syncSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := s.syncLocked(seq)
		<-s.syncSem
		if err != nil {
			return err
		}
	}
	return nil
}

// syncLocked fsyncs everything written so far unless a sync that finished while we
// waited for syncSem already covered seq; syncSem is held.
func (s *store) syncLocked(seq uint64) error {
	if s.synced.Load() >= seq {
		return nil
	}
	s.mu.Lock()
	f, target, err := s.f, s.written, s.err
	if s.closed {
		err = errStoreClosed
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		err = fmt.Errorf("group: fsync offsets log: %w", err)
		s.mu.Lock()
		// After a failed fsync the kernel may have dropped the dirty pages: stop here.
		s.err = err
		s.mu.Unlock()
		return err
	}
	s.synced.Store(target)
	return nil
}

// compact rewrites the log as the current table. It holds syncSem so that no fsync
// runs on the file being replaced.
func (s *store) compact(ctx context.Context) error {
	select {
	case s.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.syncSem }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil || s.size < s.compactAt {
		return nil
	}
	if err := s.compactLocked(); err != nil {
		// The old log is still whole; try again once it has grown some more.
		s.log.Warn("offsets log compaction failed", "err", err)
		s.compactAt = 2 * s.size
	}
	return s.err
}

// compactLocked writes the table to a temporary file, syncs it and renames it over the
// log; the new file's handle becomes the log's. s.mu is held.
func (s *store) compactLocked() error {
	path := filepath.Join(s.dir, logFile)
	buf := []byte(logMagic)
	var rec []byte
	for _, o := range s.snapshot() {
		rec = o.encode(rec[:0])
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(rec)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(rec, castagnoli))
		buf = append(buf, rec...)
	}
	tmp, err := os.OpenFile(path+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("group: compact offsets log: %w", err)
	}
	if _, err := tmp.Write(buf); err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(path + ".tmp")
		return fmt.Errorf("group: compact offsets log: %w", err)
	}
	old := s.f
	s.f = tmp
	old.Close()
	if err := syncDir(s.dir); err != nil {
		// The rename may not survive a crash, and later appends go to the new file.
		s.err = err
		return err
	}
	s.log.Debug("offsets log compacted", "from_bytes", s.size, "to_bytes", len(buf))
	s.size = int64(len(buf))
	s.compactAt = max(minCompactBytes, 2*s.size)
	s.synced.Store(s.written)
	return nil
}

// lastWritten is the sequence number of the latest record, for a flush that must cover
// everything written so far.
func (s *store) lastWritten() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("group: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("group: sync dir: %w", err)
	}
	return nil
}

// close syncs and closes the log.
func (s *store) close() error {
	s.syncSem <- struct{}{}
	defer func() { <-s.syncSem }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.err == nil {
		if serr := s.f.Sync(); serr != nil {
			err = fmt.Errorf("group: fsync offsets log: %w", serr)
		}
	}
	if cerr := s.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("group: close offsets log: %w", cerr)
	}
	return err
}
