package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
)

// producerHistory is how many batches per producer are remembered for
// duplicate detection: the most a Kafka client keeps in flight.
const producerHistory = 5

// batchMeta is what an idempotent retry must be answered with.
type batchMeta struct {
	firstSeq, lastSeq      int32
	baseOffset, lastOffset int64
	appendTime             int64
}

// producerEntry is one producer's state in this partition: its newest epoch
// and its last batches, oldest first, and its transaction here.
type producerEntry struct {
	epoch   int16
	n       int
	batches [producerHistory]batchMeta

	txnFirst   int64 // first offset of its ongoing transaction, -1 when none
	coordEpoch int32 // coordinator epoch of its last marker, -1 before any
	lastTs     int64 // max timestamp of its last batch or marker, -1 unknown
}

func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, txnFirst: -1, coordEpoch: -1, lastTs: -1}
}

func (e *producerEntry) push(m batchMeta) {
	if e.n == producerHistory {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = m
	e.n++
}

// producerStates maps producer IDs to their state; guarded by Log.mu.
type producerStates map[int64]*producerEntry

// addSeq returns the sequence delta after seq, wrapping past MaxInt32 to 0
// as Kafka sequences do.
func addSeq(seq int32, delta int32) int32 {
	s := int64(seq) + int64(delta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

// check applies Kafka's idempotence rules to a batch about to be appended.
// For a retry of one of the producer's last batches it returns that batch's
// metadata with ErrDuplicateSequence.
func (p producerStates) check(h *batchHeader) (batchMeta, error) {
	e := p[h.producerID]
	if h.attributes&attrControl != 0 {
		if e != nil && h.epoch < e.epoch {
			return batchMeta{}, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.producerID, h.epoch, e.epoch)
		}
		return batchMeta{}, nil
	}
	if e == nil {
		if h.baseSequence != 0 {
			return batchMeta{}, fmt.Errorf("%w: producer %d starts at sequence %d", ErrUnknownProducerID, h.producerID, h.baseSequence)
		}
		return batchMeta{}, nil
	}
	switch {
	case h.epoch < e.epoch:
		return batchMeta{}, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.producerID, h.epoch, e.epoch)
	case h.epoch > e.epoch:
		if h.baseSequence != 0 {
			return batchMeta{}, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, not 0", ErrOutOfOrderSequence, h.producerID, h.epoch, h.baseSequence)
		}
		return batchMeta{}, nil
	}
	last := addSeq(h.baseSequence, int32(h.lastOffset-h.baseOffset))
	for _, m := range e.batches[:e.n] {
		if m.firstSeq == h.baseSequence && m.lastSeq == last {
			return m, fmt.Errorf("%w: producer %d sequence %d", ErrDuplicateSequence, h.producerID, h.baseSequence)
		}
	}
	if e.n == 0 {
		if h.baseSequence != 0 {
			return batchMeta{}, fmt.Errorf("%w: producer %d has no batches left and sends sequence %d", ErrUnknownProducerID, h.producerID, h.baseSequence)
		}
		return batchMeta{}, nil
	}
	if want := addSeq(e.batches[e.n-1].lastSeq, 1); h.baseSequence != want {
		return batchMeta{}, fmt.Errorf("%w: producer %d sent sequence %d, expected %d", ErrOutOfOrderSequence, h.producerID, h.baseSequence, want)
	}
	return batchMeta{}, nil
}

// update records an appended (or replayed) batch of a producer. h carries
// the batch's final offsets.
func (p producerStates) update(h *batchHeader, appendTime int64) {
	e := p[h.producerID]
	if e == nil {
		e = newProducerEntry(h.epoch)
		p[h.producerID] = e
	}
	if h.epoch != e.epoch {
		e.epoch, e.n = h.epoch, 0
	}
	e.lastTs = h.maxTimestamp
	if h.attributes&attrControl != 0 {
		return
	}
	e.push(batchMeta{
		firstSeq:   h.baseSequence,
		lastSeq:    addSeq(h.baseSequence, int32(h.lastOffset-h.baseOffset)),
		baseOffset: h.baseOffset,
		lastOffset: h.lastOffset,
		appendTime: appendTime,
	})
}

// evictBefore forgets producers whose every batch is below the log start
// offset, so deleted data does not pin producer state forever. Such a
// producer gets ErrUnknownProducerID on its next batch and resets. A
// producer with an ongoing transaction stays: its marker must end it.
func (p producerStates) evictBefore(logStart int64) {
	for id, e := range p {
		if e.txnFirst >= 0 {
			continue
		}
		if e.n == 0 || e.batches[e.n-1].lastOffset < logStart {
			delete(p, id)
		}
	}
}

// expireIdle forgets producers without an open transaction whose newest
// timestamp is known and below cutoff (ms), and returns how many it forgot.
func (p producerStates) expireIdle(cutoff int64) int {
	n := 0
	for id, e := range p {
		if e.txnFirst < 0 && e.lastTs >= 0 && e.lastTs < cutoff {
			delete(p, id)
			n++
		}
	}
	return n
}

// Snapshot file: a magic, uint32 producer count, per producer int64 id,
// int16 epoch, [v2: int64 ongoing transaction first offset, int32
// coordinator epoch, int64 last timestamp,] uint8 n and n batches of (int32
// first seq, int32 last seq, int64 base offset, int64 last offset, int64
// append time), [v2: the active segment's aborted index as appendAborted
// writes it,] then the CRC-32C of all that. Named by the log end offset it
// reflects. Version 1 ("EPS1", before transactions) is still read.
var (
	snapshotMagicV1 = []byte("EPS1")
	snapshotMagic   = []byte("EPS2")
)

func (p producerStates) marshal(aborted []abortedEntry) []byte {
	b := append([]byte(nil), snapshotMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	for id, e := range p {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = append(b, byte(e.n))
		for _, m := range e.batches[:e.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.baseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.appendTime))
		}
	}
	b = appendAborted(b, aborted)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errBadSnapshot = errors.New("storage: bad producer snapshot")

// unmarshalProducers decodes a v1 or v2 snapshot into the producer state and
// the aborted index entries it carries.
func unmarshalProducers(b []byte) (producerStates, []abortedEntry, error) {
	if len(b) < len(snapshotMagic)+8 {
		return nil, nil, errBadSnapshot
	}
	v2 := string(b[:4]) == string(snapshotMagic)
	if !v2 && string(b[:4]) != string(snapshotMagicV1) {
		return nil, nil, errBadSnapshot
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, nil, errBadSnapshot
	}
	r := body[4:]
	count := binary.BigEndian.Uint32(r)
	r = r[4:]
	const perBatch = 32
	fixed := 11
	if v2 {
		fixed += 20
	}
	p := make(producerStates, min(int(count), len(r)/fixed))
	for range count {
		if len(r) < fixed {
			return nil, nil, errBadSnapshot
		}
		id := int64(binary.BigEndian.Uint64(r))
		e := newProducerEntry(int16(binary.BigEndian.Uint16(r[8:])))
		if v2 {
			e.txnFirst = int64(binary.BigEndian.Uint64(r[10:]))
			e.coordEpoch = int32(binary.BigEndian.Uint32(r[18:]))
			e.lastTs = int64(binary.BigEndian.Uint64(r[22:]))
		}
		e.n = int(r[fixed-1])
		r = r[fixed:]
		if e.n > producerHistory || len(r) < e.n*perBatch {
			return nil, nil, errBadSnapshot
		}
		for i := range e.n {
			e.batches[i] = batchMeta{
				firstSeq:   int32(binary.BigEndian.Uint32(r)),
				lastSeq:    int32(binary.BigEndian.Uint32(r[4:])),
				baseOffset: int64(binary.BigEndian.Uint64(r[8:])),
				lastOffset: int64(binary.BigEndian.Uint64(r[16:])),
				appendTime: int64(binary.BigEndian.Uint64(r[24:])),
			}
			r = r[perBatch:]
		}
		p[id] = e
	}
	var aborted []abortedEntry
	if v2 {
		var ok bool
		if aborted, r, ok = readAborted(r); !ok {
			return nil, nil, errBadSnapshot
		}
	}
	if len(r) != 0 {
		return nil, nil, errBadSnapshot
	}
	return p, aborted, nil
}

// writeSnapshot stores the producer state as of offset end. It needs no
// fsync: a lost or torn snapshot fails its CRC and the state is rebuilt by
// replaying batch headers from an older snapshot.
func writeSnapshot(dir string, end int64, p producerStates, aborted []abortedEntry) error {
	final := filepath.Join(dir, segmentName(end, extSnapshot))
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, p.marshal(aborted), 0o644); err != nil {
		return fmt.Errorf("storage: write producer snapshot: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("storage: write producer snapshot: %w", err)
	}
	return nil
}
