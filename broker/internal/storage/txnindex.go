package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// abortedEntry is an aborted transaction as the index keeps it, with the
// last stable offset right after its marker (high watermark aside): an entry
// whose stable offset is at or past a read's upper bound shows that every
// transaction starting below the bound had ended, so no later entry matters.
type abortedEntry struct {
	AbortedTxn
	stable int64
}

// addAborted records an ABORT marker appended (or replayed) into s.
func (s *segment) addAborted(e abortedEntry) {
	s.txnMu.Lock()
	s.aborted = append(s.aborted, e)
	s.txnMu.Unlock()
}

func (s *segment) abortedEntries() []abortedEntry {
	s.txnMu.RLock()
	defer s.txnMu.RUnlock()
	return append([]abortedEntry(nil), s.aborted...)
}

// The .txnindex file of a segment: "ETX1", the int64 offset the segment
// ended at when it was written, the entries as appendAborted writes them,
// then the CRC-32C of all that. Unlike the offset index it cannot be rebuilt
// from its own segment alone (a transaction's first offset may lie in an
// earlier one), so the CRC tells a torn write from a segment without aborts
// and the end offset tells a file left by Close from the one its roll wrote.
var txnIndexMagic = []byte("ETX1")

const abortedEntryLen = 32

// appendAborted appends a uint32 count and per entry the producer ID, first
// offset, marker offset and stable offset (int64 each).
func appendAborted(b []byte, es []abortedEntry) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.stable))
	}
	return b
}

// readAborted decodes what appendAborted wrote and returns the rest of r.
func readAborted(r []byte) ([]abortedEntry, []byte, bool) {
	if len(r) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(r)
	r = r[4:]
	if uint64(len(r)) < uint64(n)*abortedEntryLen {
		return nil, nil, false
	}
	var es []abortedEntry
	for range n {
		es = append(es, abortedEntry{
			AbortedTxn: AbortedTxn{
				ProducerID:  int64(binary.BigEndian.Uint64(r)),
				FirstOffset: int64(binary.BigEndian.Uint64(r[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(r[16:])),
			},
			stable: int64(binary.BigEndian.Uint64(r[24:])),
		})
		r = r[abortedEntryLen:]
	}
	return es, r, true
}

var errBadTxnIndex = errors.New("aborted transaction index does not match its segment")

// decodeTxnIndex parses a .txnindex file of the segment holding [base, next).
func decodeTxnIndex(b []byte, base, next int64) ([]abortedEntry, error) {
	hdr := len(txnIndexMagic) + 8
	if len(b) < hdr+8 || string(b[:len(txnIndexMagic)]) != string(txnIndexMagic) {
		return nil, fmt.Errorf("%w: bad header", errBadTxnIndex)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: CRC-32C mismatch", errBadTxnIndex)
	}
	if end := int64(binary.BigEndian.Uint64(body[len(txnIndexMagic):])); end != next {
		return nil, fmt.Errorf("%w: written at offset %d, segment ends at %d", errBadTxnIndex, end, next)
	}
	es, rest, ok := readAborted(body[hdr:])
	if !ok || len(rest) != 0 {
		return nil, fmt.Errorf("%w: bad length", errBadTxnIndex)
	}
	prev := base - 1
	for i, e := range es {
		if e.LastOffset <= prev || e.LastOffset >= next || e.FirstOffset < 0 ||
			e.FirstOffset > e.LastOffset || e.stable > e.LastOffset+1 {
			return nil, fmt.Errorf("%w: entry %d", errBadTxnIndex, i)
		}
		prev = e.LastOffset
	}
	return es, nil
}

// writeTxnIndex replaces the .txnindex file of s, which ends at offset end
// (temp file and rename). Like the offset index it is not fsynced: a lost,
// torn or stale file fails its check on Open and is rebuilt from the
// segments.
func writeTxnIndex(s *segment, end int64) error {
	b := append([]byte(nil), txnIndexMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(end))
	b = appendAborted(b, s.abortedEntries())
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	final := s.path(extTxnIndex)
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("storage: write txn index: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: write txn index: %w", err)
	}
	return nil
}

// loadTxnIndex reads a closed segment's aborted index, reporting false when
// it is missing or does not match the segment.
func (l *Log) loadTxnIndex(s *segment) bool {
	b, err := os.ReadFile(s.path(extTxnIndex))
	if err == nil {
		var es []abortedEntry
		if es, err = decodeTxnIndex(b, s.base, s.next); err == nil {
			s.aborted = es
			return true
		}
	}
	l.logger.Warn("rebuilding aborted transaction index", "segment", s.path(extLog), "reason", err)
	return false
}

// readMarkerAt decodes the control batch of n bytes at pos in s.
func readMarkerAt(s *segment, pos int64, n int) (marker, error) {
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, pos); err != nil {
		return marker{}, fmt.Errorf("storage: read segment: %w", err)
	}
	return parseMarker(b)
}

// rebuildTxnIndexes regenerates the aborted indexes of the closed segments
// in bad (in log order) by walking batch headers from the first segment,
// since a transaction's first offset may lie in any earlier segment. A
// transaction that began in deleted data counts from its first batch left.
func (l *Log) rebuildTxnIndexes(bad []*segment) error {
	open := map[int64]int64{} // producer ID -> first offset of its transaction
	for _, s := range l.segs {
		if len(bad) == 0 {
			break
		}
		rebuild := s == bad[0]
		var es []abortedEntry
		it := batchReader{r: s.f, end: s.size.Load()}
		for {
			pos, b, ok := it.next(false)
			if !ok {
				break
			}
			h := parseHeader(b)
			if h.producerID < 0 {
				continue
			}
			if h.attributes&attrControl == 0 {
				if _, ongoing := open[h.producerID]; !ongoing && h.attributes&attrTransactional != 0 {
					open[h.producerID] = h.baseOffset
				}
				continue
			}
			m, err := readMarkerAt(s, pos, batchLen(b))
			if err != nil {
				l.logger.Warn("unreadable control batch", "segment", s.path(extLog), "offset", h.baseOffset, "err", err)
			}
			first, ongoing := open[h.producerID]
			if !m.ok || !ongoing {
				continue
			}
			delete(open, h.producerID)
			if rebuild && !m.commit {
				stable := h.baseOffset + 1
				for _, f := range open {
					stable = min(stable, f)
				}
				es = append(es, abortedEntry{AbortedTxn{h.producerID, first, h.baseOffset}, stable})
			}
		}
		if it.err != nil {
			return it.err
		}
		if rebuild {
			s.txnMu.Lock()
			s.aborted = es
			s.txnMu.Unlock()
			if err := writeTxnIndex(s, s.next); err != nil {
				l.logger.Warn("writing rebuilt txn index", "err", err)
			}
			bad = bad[1:]
		}
	}
	return nil
}
