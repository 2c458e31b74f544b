package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
)

// indexEntry is one sparse index point of a segment. The offset index file
// stores (rel, pos) and the time index file stores (maxTs, rel) for the same
// points, so one in-memory slice serves both lookups.
type indexEntry struct {
	rel uint32 // batch base offset minus segment base offset
	pos uint32 // byte position of that batch in the segment
	// maxTs is the largest record timestamp of the segment before this
	// batch: every record at a smaller offset has a timestamp <= maxTs.
	maxTs int64
}

const (
	offIndexEntryLen  = 8
	timeIndexEntryLen = 12
)

// lookupOffset returns the position of the last indexed batch whose base
// offset is <= base+rel, or 0.
func lookupOffset(idx []indexEntry, rel uint32) int64 {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].rel > rel })
	if i == 0 {
		return 0
	}
	return int64(idx[i-1].pos)
}

// lookupTime returns the position of the last indexed batch before which
// every record is older than ts; the first record at or after ts can only be
// at or behind that position.
func lookupTime(idx []indexEntry, ts int64) int64 {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].maxTs >= ts })
	if i == 0 {
		return 0
	}
	return int64(idx[i-1].pos)
}

// encodeIndexes renders both index files. The time index ends with an extra
// entry (segment max timestamp, segment end), so that a closed segment's
// newest timestamp is known without scanning it.
func encodeIndexes(idx []indexEntry, maxTs int64, endRel uint32) (offs, times []byte) {
	offs = make([]byte, 0, len(idx)*offIndexEntryLen)
	times = make([]byte, 0, (len(idx)+1)*timeIndexEntryLen)
	for _, e := range idx {
		offs = binary.BigEndian.AppendUint32(offs, e.rel)
		offs = binary.BigEndian.AppendUint32(offs, e.pos)
		times = binary.BigEndian.AppendUint64(times, uint64(e.maxTs))
		times = binary.BigEndian.AppendUint32(times, e.rel)
	}
	times = binary.BigEndian.AppendUint64(times, uint64(maxTs))
	times = binary.BigEndian.AppendUint32(times, endRel)
	return offs, times
}

var errBadIndex = errors.New("index does not match its segment")

// decodeIndexes parses and cross-checks both index files of a closed segment
// of size bytes that ends at relative offset endRel. Any inconsistency is
// errBadIndex, and the caller rebuilds the indexes from the segment.
func decodeIndexes(offs, times []byte, size int64, endRel uint32) ([]indexEntry, int64, error) {
	if len(offs)%offIndexEntryLen != 0 || len(times)%timeIndexEntryLen != 0 ||
		len(times)/timeIndexEntryLen != len(offs)/offIndexEntryLen+1 {
		return nil, 0, fmt.Errorf("%w: sizes %d and %d", errBadIndex, len(offs), len(times))
	}
	n := len(offs) / offIndexEntryLen
	idx := make([]indexEntry, n)
	var prev indexEntry
	for i := range idx {
		e := indexEntry{
			rel:   binary.BigEndian.Uint32(offs[i*offIndexEntryLen:]),
			pos:   binary.BigEndian.Uint32(offs[i*offIndexEntryLen+4:]),
			maxTs: int64(binary.BigEndian.Uint64(times[i*timeIndexEntryLen:])),
		}
		if binary.BigEndian.Uint32(times[i*timeIndexEntryLen+8:]) != e.rel ||
			e.rel <= prev.rel || e.pos <= prev.pos || int64(e.pos) >= size || e.rel >= endRel ||
			(i > 0 && e.maxTs < prev.maxTs) {
			return nil, 0, fmt.Errorf("%w: entry %d", errBadIndex, i)
		}
		idx[i], prev = e, e
	}
	last := times[n*timeIndexEntryLen:]
	maxTs := int64(binary.BigEndian.Uint64(last))
	if binary.BigEndian.Uint32(last[8:]) != endRel || (n > 0 && maxTs < prev.maxTs) {
		return nil, 0, fmt.Errorf("%w: end entry", errBadIndex)
	}
	return idx, maxTs, nil
}

// writeIndexes writes a segment's index files. They are derived data: a torn
// write is detected by decodeIndexes and repaired on the next Open.
func writeIndexes(s *segment, endRel uint32) error {
	s.idxMu.RLock()
	offs, times := encodeIndexes(s.idx, s.maxTs.Load(), endRel)
	s.idxMu.RUnlock()
	if err := os.WriteFile(s.path(extIndex), offs, 0o644); err != nil {
		return fmt.Errorf("storage: write index: %w", err)
	}
	if err := os.WriteFile(s.path(extTimeIndex), times, 0o644); err != nil {
		return fmt.Errorf("storage: write time index: %w", err)
	}
	return nil
}
