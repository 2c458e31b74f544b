package txn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
)

// The transaction state lives in one append-only log file. Each record is framed as
// length (uint32), CRC-32C of the payload (uint32), payload, so a write torn by a crash
// is recognised on open and cut off. A record holds an ID's whole state, so when the
// file has grown well past the latest record of every ID it is rewritten as just those
// and renamed over the old one.
const (
	logFile         = "transactions.log"
	logMagic        = "eddytxn1"
	frameHeaderSize = 8
	minCompactBytes = 1 << 20
)

// Errors of the state log.
var (
	// ErrCorrupt reports a state log that cannot be trusted (not a torn tail).
	ErrCorrupt     = errors.New("txn: state log corrupt")
	errStoreClosed = errors.New("txn: state log closed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// store is the durable log of transaction states. It keeps the latest encoded record of
// every live ID for compaction; the coordinator keeps the states it works with.
type store struct {
	dir      string
	syncEach bool
	log      *slog.Logger

	// syncSem admits one fsync or compaction at a time; writers that arrive while one
	// runs wait for it and are often covered by the next, so they share one fsync.
	syncSem chan struct{}
	synced  atomic.Uint64 // records known to be on disk

	mu         sync.Mutex
	f          *os.File
	size       int64
	written    uint64 // records appended
	minCompact int64
	compactAt  int64
	err        error // sticky: an I/O failure left the log in an unknown state
	closed     bool
	buf        []byte
	live       map[string][]byte // latest record payload per ID
}

// openStore opens the log in dir and returns it with the state of every ID it holds.
func openStore(dir string, syncEach bool, log *slog.Logger) (*store, map[string]*meta, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("txn: state dir: %w", err)
	}
	s := &store{
		dir:        dir,
		syncEach:   syncEach,
		log:        log,
		syncSem:    make(chan struct{}, 1),
		minCompact: minCompactBytes,
		live:       map[string][]byte{},
	}
	path := filepath.Join(dir, logFile)
	// A leftover from a compaction that did not finish; the log it was to replace is intact.
	if err := os.Remove(path + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("txn: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("txn: open state log: %w", err)
	}
	s.f = f
	states, err := s.load()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size > s.minCompact && s.size > 2*s.liveSize() {
		if err := s.compactLocked(); err != nil {
			s.f.Close()
			return nil, nil, err
		}
	}
	s.compactAt = max(s.minCompact, 2*s.size)
	return s, states, nil
}

// load replays the log and truncates a torn tail.
func (s *store) load() (map[string]*meta, error) {
	states := map[string]*meta{}
	data, err := io.ReadAll(s.f)
	if err != nil {
		return nil, fmt.Errorf("txn: read state log: %w", err)
	}
	if len(data) < len(logMagic) {
		if !bytes.HasPrefix([]byte(logMagic), data) {
			return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
		}
		// New, or torn while being created.
		if err := s.f.Truncate(0); err != nil {
			return nil, fmt.Errorf("txn: state log: %w", err)
		}
		if _, err := s.f.Write([]byte(logMagic)); err != nil {
			return nil, fmt.Errorf("txn: state log: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return nil, fmt.Errorf("txn: state log: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return nil, err
		}
		s.size = int64(len(logMagic))
		return states, nil
	}
	if string(data[:len(logMagic)]) != logMagic {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
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
		r, err := decodeRecord(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: record at byte %d: %w", ErrCorrupt, pos, err)
		}
		if r.m == nil {
			delete(states, r.id)
			delete(s.live, r.id)
		} else {
			states[r.id] = r.m
			s.live[r.id] = payload
		}
		pos += frameHeaderSize + int(n)
		records++
	}
	if pos < len(data) {
		s.log.Warn("transaction state log has a torn tail; truncating", "valid_bytes", pos, "dropped_bytes", len(data)-pos)
		if err := s.f.Truncate(int64(pos)); err != nil {
			return nil, fmt.Errorf("txn: truncate state log: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return nil, fmt.Errorf("txn: state log: %w", err)
		}
	}
	s.size = int64(pos)
	s.log.Debug("transaction states loaded", "records", records, "ids", len(states))
	return states, nil
}

// liveSize is the size the log would have as one record per live ID; s.mu is held.
func (s *store) liveSize() int64 {
	n := int64(len(logMagic))
	for _, p := range s.live {
		n += frameHeaderSize + int64(len(p))
	}
	return n
}

// write appends the state of id (nil: id expired) and returns the record's sequence
// number for wait. Nothing is logged when the write fails.
func (s *store) write(id string, m *meta) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStoreClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	r := record{id: id, m: m}
	s.buf = append(s.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	s.buf = r.encode(s.buf)
	payload := s.buf[frameHeaderSize:]
	binary.BigEndian.PutUint32(s.buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(s.buf[4:], crc32.Checksum(payload, castagnoli))
	if _, err := s.f.Write(s.buf); err != nil {
		// Cut off whatever part was written, or later records would follow garbage.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.err = fmt.Errorf("txn: state log unusable: %w", errors.Join(err, terr))
		}
		return 0, fmt.Errorf("txn: write state log: %w", err)
	}
	s.size += int64(len(s.buf))
	s.written++
	if m == nil {
		delete(s.live, id)
	} else {
		s.live[id] = bytes.Clone(payload)
	}
	return s.written, nil
}

// wait makes record seq durable when the store syncs every write, and compacts the log
// when it is due. It does not give up early: a state that was logged is acted on only
// once this returns, and a caller that stopped waiting would leave memory behind disk.
func (s *store) wait(seq uint64) error {
	s.mu.Lock()
	due := s.size >= s.compactAt
	s.mu.Unlock()
	if due {
		if err := s.compact(); err != nil {
			return err
		}
	}
	if !s.syncEach {
		return nil
	}
	for s.synced.Load() < seq {
		s.syncSem <- struct{}{}
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
		err = fmt.Errorf("txn: fsync state log: %w", err)
		s.mu.Lock()
		// After a failed fsync the kernel may have dropped the dirty pages: stop here.
		s.err = err
		s.mu.Unlock()
		return err
	}
	s.synced.Store(target)
	return nil
}

// compact rewrites the log as the live records. It holds syncSem so that no fsync runs
// on the file being replaced.
func (s *store) compact() error {
	s.syncSem <- struct{}{}
	defer func() { <-s.syncSem }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil || s.size < s.compactAt {
		return s.err
	}
	if err := s.compactLocked(); err != nil {
		// The old log is still whole; try again once it has grown some more.
		s.log.Warn("transaction state log compaction failed", "err", err)
		s.compactAt = 2 * s.size
	}
	return s.err
}

// compactLocked writes the live records to a temporary file, syncs it and renames it
// over the log; the new file's handle becomes the log's. s.mu is held.
func (s *store) compactLocked() error {
	path := filepath.Join(s.dir, logFile)
	buf := make([]byte, 0, s.liveSize())
	buf = append(buf, logMagic...)
	for _, id := range slices.Sorted(maps.Keys(s.live)) {
		p := s.live[id]
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, castagnoli))
		buf = append(buf, p...)
	}
	tmp, err := os.OpenFile(path+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("txn: compact state log: %w", err)
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
		return fmt.Errorf("txn: compact state log: %w", err)
	}
	old := s.f
	s.f = tmp
	old.Close()
	if err := syncDir(s.dir); err != nil {
		// The rename may not survive a crash, and later appends go to the new file.
		s.err = err
		return err
	}
	s.log.Debug("transaction state log compacted", "from_bytes", s.size, "to_bytes", len(buf))
	s.size = int64(len(buf))
	s.compactAt = max(s.minCompact, 2*s.size)
	s.synced.Store(s.written)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("txn: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("txn: sync dir: %w", err)
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
			err = fmt.Errorf("txn: fsync state log: %w", serr)
		}
	}
	if cerr := s.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("txn: close state log: %w", cerr)
	}
	return err
}
