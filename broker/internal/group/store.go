package group

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/eddy-io/eddy/broker/internal/journal"
)

// The committed offsets live in memory and in one journal (append-only log) file. When
// the file has grown well past what is live, it is rewritten as one commit record per
// group, plus the transactions' pending offsets.
const (
	logFile         = "offsets.log"
	logMagic        = "eddyoff1"
	minCompactBytes = 4 << 20
)

// Errors of the offsets store.
var (
	// ErrCorrupt reports an offsets log that cannot be trusted (not a torn tail).
	ErrCorrupt     = errors.New("group: offsets log corrupt")
	errStoreClosed = errors.New("group: offsets store closed")
)

// store is the durable table of committed offsets, group -> topic -> partition, and of
// the pending offsets of ongoing transactions. The journal's lock guards the table.
type store struct {
	j   *journal.Journal
	log *slog.Logger
	now func() time.Time // stamps records

	buf     []byte
	offsets map[string]partitionOffsets
	// pending holds transactional offsets until their transaction ends: group ->
	// producer ID -> offsets.
	pending map[string]map[int64]partitionOffsets
	// activity is kept for the groups with committed or pending offsets and those with
	// members.
	activity map[string]activity
	order    uint64 // records applied; the next record's order
}

// openStore opens the offsets log in dir; minCompact, when not 0, replaces
// minCompactBytes (for tests).
func openStore(dir string, syncEach bool, log *slog.Logger, now func() time.Time, minCompact int64) (*store, error) {
	if minCompact == 0 {
		minCompact = minCompactBytes
	}
	s := &store{
		log:      log,
		now:      now,
		offsets:  map[string]partitionOffsets{},
		pending:  map[string]map[int64]partitionOffsets{},
		activity: map[string]activity{},
	}
	records := 0
	j, err := journal.Open(journal.Options{
		Dir:        dir,
		File:       logFile,
		Magic:      logMagic,
		Sync:       syncEach,
		MinCompact: minCompact,
		Snapshot:   s.records,
		Logger:     log,
		Owner:      "group",
		Name:       "offsets log",
		ErrCorrupt: ErrCorrupt,
		ErrClosed:  errStoreClosed,
	}, func(payload []byte) error {
		o, err := decodeOp(payload)
		if err != nil {
			return err
		}
		s.apply(&o)
		records++
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.j = j
	log.Debug("offsets loaded", "records", records, "groups", len(s.offsets))
	if err := s.restartClocks(); err != nil {
		j.Close()
		return nil, err
	}
	if err := j.Rebase(j.Size() > minCompact); err != nil {
		j.Close()
		return nil, err
	}
	return s, nil
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
	s.j.Lock()
	defer s.j.Unlock()
	o.at = max(s.now().UnixMilli(), 1) // 0 would mean unknown, and less is no record
	s.buf = o.encode(s.buf[:0])
	seq, err := s.j.AppendLocked(s.buf)
	if err != nil {
		return 0, err
	}
	s.apply(o)
	return seq, nil
}

// records yields the payloads of the table's snapshot, for compaction; the journal is
// locked.
func (s *store) records(yield func([]byte) bool) {
	var rec []byte
	for _, o := range s.snapshot() {
		rec = o.encode(rec[:0])
		if !yield(rec) {
			return
		}
	}
}

// flush makes record seq durable when the store syncs every commit, and compacts the
// log when it is due. Call it without holding group locks.
func (s *store) flush(ctx context.Context, seq uint64) error {
	return s.j.Wait(ctx, seq)
}

// lastWritten is the sequence number of the latest record, for a flush that must cover
// everything written so far.
func (s *store) lastWritten() uint64 {
	return s.j.Written()
}

// close syncs and closes the log.
func (s *store) close() error {
	return s.j.Close()
}
