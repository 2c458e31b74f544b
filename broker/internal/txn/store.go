package txn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"

	"github.com/eddy-io/eddy/broker/internal/journal"
)

// The transaction state lives in one journal (append-only log) file. A record holds an
// ID's whole state, so when the file has grown well past the latest record of every ID
// it is rewritten as just those.
const (
	logFile         = "transactions.log"
	logMagic        = "eddytxn1"
	minCompactBytes = 1 << 20
)

// Errors of the state log.
var (
	// ErrCorrupt reports a state log that cannot be trusted (not a torn tail).
	ErrCorrupt     = errors.New("txn: state log corrupt")
	errStoreClosed = errors.New("txn: state log closed")
)

// store is the durable log of transaction states. It keeps the latest encoded record of
// every live ID for compaction, guarded by the journal's lock; the coordinator keeps
// the states it works with.
type store struct {
	j    *journal.Journal
	buf  []byte
	live map[string][]byte // latest record payload per ID
}

// openStore opens the log in dir and returns it with the state of every ID it holds;
// minCompact, when not 0, replaces minCompactBytes (for tests).
func openStore(dir string, syncEach bool, log *slog.Logger, minCompact int64) (*store, map[string]*meta, error) {
	if minCompact == 0 {
		minCompact = minCompactBytes
	}
	s := &store{live: map[string][]byte{}}
	states := map[string]*meta{}
	records := 0
	j, err := journal.Open(journal.Options{
		Dir:        dir,
		File:       logFile,
		Magic:      logMagic,
		Sync:       syncEach,
		MinCompact: minCompact,
		Snapshot:   s.records,
		Logger:     log,
		Owner:      "txn",
		Name:       "state log",
		ErrCorrupt: ErrCorrupt,
		ErrClosed:  errStoreClosed,
	}, func(payload []byte) error {
		r, err := decodeRecord(payload)
		if err != nil {
			return err
		}
		if r.m == nil {
			delete(states, r.id)
			delete(s.live, r.id)
		} else {
			states[r.id] = r.m
			s.live[r.id] = payload
		}
		records++
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.j = j
	log.Debug("transaction states loaded", "records", records, "ids", len(states))
	size := j.Size()
	if err := j.Rebase(size > minCompact && size > 2*s.liveSize()); err != nil {
		j.Close()
		return nil, nil, err
	}
	return s, states, nil
}

// liveSize is the size the log would have as one record per live ID; the journal is
// locked or not shared yet.
func (s *store) liveSize() int64 {
	n := int64(len(logMagic))
	for _, p := range s.live {
		n += journal.FrameOverhead + int64(len(p))
	}
	return n
}

// records yields the live records in ID order, for compaction; the journal is locked.
func (s *store) records(yield func([]byte) bool) {
	for _, id := range slices.Sorted(maps.Keys(s.live)) {
		if !yield(s.live[id]) {
			return
		}
	}
}

// write appends the state of id (nil: id expired) and returns the record's sequence
// number for wait. Nothing is logged when the write fails.
func (s *store) write(id string, m *meta) (uint64, error) {
	s.j.Lock()
	defer s.j.Unlock()
	r := record{id: id, m: m}
	s.buf = r.encode(s.buf[:0])
	seq, err := s.j.AppendLocked(s.buf)
	if err != nil {
		return 0, err
	}
	if m == nil {
		delete(s.live, id)
	} else {
		s.live[id] = bytes.Clone(s.buf)
	}
	return seq, nil
}

// wait makes record seq durable when the store syncs every write, and compacts the log
// when it is due. It does not give up early: a state that was logged is acted on only
// once this returns, and a caller that stopped waiting would leave memory behind disk.
func (s *store) wait(seq uint64) error {
	return s.j.Wait(context.Background(), seq)
}

// close syncs and closes the log.
func (s *store) close() error {
	return s.j.Close()
}
