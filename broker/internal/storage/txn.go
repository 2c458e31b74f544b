package storage

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AbortedTxn is one aborted transaction of a partition: the producer, the offset of
// its first record here and the offset of its ABORT marker.
type AbortedTxn struct{ ProducerID, FirstOffset, LastOffset int64 }

// ProducerInfo is DescribeProducers' view of one producer of a partition.
type ProducerInfo struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1 when the producer has no data batch left
	LastTimestamp int64 // newest timestamp of its last batch or marker, -1 if unknown
	// CoordinatorEpoch is that of its last marker, -1 before any.
	CoordinatorEpoch      int32
	CurrentTxnStartOffset int64 // -1 when none
}

// BatchProducer reads a (SplitBatches-checked) batch's producer ID, epoch and
// transactional bit (attributes 0x10), for the broker's produce checks. A
// slice too short to hold a header reads as no producer.
func BatchProducer(batch []byte) (producerID int64, epoch int16, transactional bool) {
	if len(batch) < headerLen {
		return -1, -1, false
	}
	h := parseHeader(batch)
	return h.producerID, h.epoch, h.attributes&attrTransactional != 0
}

// IsControlBatch reports whether batch is a control batch (attributes 0x20). Only the
// broker writes those (AppendMarker); a producer's is refused, as Kafka refuses it.
func IsControlBatch(batch []byte) bool {
	return len(batch) >= headerLen && parseHeader(batch).attributes&attrControl != 0
}

// marker is what a COMMIT or ABORT control batch says; ok is false for a
// control batch of another type, which leaves transactions alone.
type marker struct {
	ok, commit bool
	coordEpoch int32
}

// AppendMarker appends a control batch (COMMIT or ABORT) for the producer, built with
// kmsg (ControlRecordKey{Version:0,Type}, EndTxnMarker{Version:0,CoordinatorEpoch}),
// ending its ongoing transaction in this partition (an ABORT goes into the aborted
// index). An epoch older than the producer's is ErrInvalidProducerEpoch. A marker for a
// producer with no ongoing transaction here is still written (harmless, as Kafka).
// Durability: like Append; the caller WaitDurable(ctx, info.LastOffset) under FsyncAlways.
func (l *Log) AppendMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32) (AppendInfo, error) {
	if producerID < 0 {
		return AppendInfo{}, fmt.Errorf("%w: marker for producer %d", ErrUnknownProducerID, producerID)
	}
	b := markerBatch(producerID, epoch, commit, coordinatorEpoch, l.now().UnixMilli())
	h := parseHeader(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return AppendInfo{}, ErrClosed
	}
	return l.appendLocked(b, &h, 0, AppendOptions{}, marker{ok: true, commit: commit, coordEpoch: coordinatorEpoch})
}

// markerBatch encodes the one-record control batch that ends a transaction,
// stamped at now (ms); control batches are never compressed.
func markerBatch(pid int64, epoch int16, commit bool, coordEpoch int32, now int64) []byte {
	key := kmsg.ControlRecordKey{Version: 0, Type: kmsg.ControlRecordKeyTypeAbort}
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: coordEpoch}
	rec := kmsg.Record{Key: key.AppendTo(nil), Value: val.AppendTo(nil)}
	// The record's length prefix is a varint of its own size; at this size
	// it is one byte, which the zero Length already occupies.
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrControl | attrTransactional,
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              rec.AppendTo(nil),
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthPrefix))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b
}

// parseMarker reads the control record of a whole control batch. A batch
// whose first record is not a COMMIT or ABORT key yields !ok; one that cannot
// be decoded at all is ErrCorruptBatch.
func parseMarker(b []byte) (marker, error) {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		return marker{}, fmt.Errorf("%w: control batch: %w", ErrCorruptBatch, err)
	}
	if rb.Attributes&attrCodecMask != 0 || rb.NumRecords < 1 {
		return marker{}, nil
	}
	length, n := binary.Varint(rb.Records)
	if n <= 0 || length < 0 || length > int64(len(rb.Records)-n) {
		return marker{}, fmt.Errorf("%w: control record length", ErrCorruptBatch)
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(rb.Records[:n+int(length)]); err != nil {
		return marker{}, fmt.Errorf("%w: control record: %w", ErrCorruptBatch, err)
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(rec.Key); err != nil {
		return marker{}, fmt.Errorf("%w: control record key: %w", ErrCorruptBatch, err)
	}
	if key.Type != kmsg.ControlRecordKeyTypeAbort && key.Type != kmsg.ControlRecordKeyTypeCommit {
		return marker{}, nil
	}
	m := marker{ok: true, commit: key.Type == kmsg.ControlRecordKeyTypeCommit, coordEpoch: -1}
	var val kmsg.EndTxnMarker
	if err := val.ReadFrom(rec.Value); err == nil {
		m.coordEpoch = val.CoordinatorEpoch
	}
	return m, nil
}

// openTxn is a transaction that holds back the last stable offset: ongoing
// (end -1) or ended by a marker at end that may not be below the high
// watermark yet.
type openTxn struct {
	pid, first, end int64
}

// trackTxnLocked applies an appended or replayed batch to its producer's
// transaction, after producers.update. An ABORT that ends a transaction is
// recorded in seg's aborted index when seg is not nil.
func (l *Log) trackTxnLocked(h *batchHeader, m marker, seg *segment) {
	e := l.producers[h.producerID]
	if h.attributes&attrControl == 0 {
		if h.attributes&attrTransactional != 0 && e.txnFirst < 0 {
			e.txnFirst = h.baseOffset
			l.txnOpen = append(l.txnOpen, openTxn{pid: h.producerID, first: h.baseOffset, end: -1})
		}
		return
	}
	if !m.ok {
		return
	}
	e.coordEpoch = m.coordEpoch
	if e.txnFirst < 0 {
		return
	}
	first := e.txnFirst
	e.txnFirst = -1
	// stable is the last stable offset once this marker counts, ignoring the
	// high watermark: the aborted index keeps it so that readers can stop
	// looking for later entries.
	stable := h.baseOffset + 1
	for i := range l.txnOpen {
		t := &l.txnOpen[i]
		switch {
		case t.end >= 0: // ended before, its marker not yet visible
		case t.pid == h.producerID:
			t.end = h.baseOffset
		default:
			stable = min(stable, t.first)
		}
	}
	if !m.commit && seg != nil {
		seg.addAborted(abortedEntry{
			AbortedTxn: AbortedTxn{ProducerID: h.producerID, FirstOffset: first, LastOffset: h.baseOffset},
			stable:     stable,
		})
	}
}

// publishTxnLocked drops the transactions whose marker is below the high
// watermark and publishes a copy for LastStableOffset. Transactions start
// and end under mu before the high watermark passes their batch.
func (l *Log) publishTxnLocked() {
	hw := l.hw.Load()
	l.txnOpen = slices.DeleteFunc(l.txnOpen, func(t openTxn) bool { return t.end >= 0 && t.end < hw })
	v := slices.Clone(l.txnOpen)
	l.txnView.Store(&v)
}

// bounds returns the high watermark and the last stable offset as of the
// same moment.
func (l *Log) bounds() (hw, stable int64) {
	for {
		hw = l.hw.Load()
		v := l.txnView.Load()
		// A view published while hw was unchanged only lacks transactions
		// whose marker is below hw, which would not count anyway.
		if l.hw.Load() != hw {
			continue
		}
		stable = hw
		if v != nil {
			for _, t := range *v {
				if (t.end < 0 || t.end >= hw) && t.first < stable {
					stable = t.first
				}
			}
		}
		return hw, max(stable, l.lso.Load())
	}
}

// LastStableOffset: min(high watermark, first offset of every transaction not yet
// ended by a marker that is below the high watermark). It never falls below
// the log start offset. It moves only when the high watermark moves or a
// marker is appended, both of which wake Watch()ers.
func (l *Log) LastStableOffset() int64 {
	_, stable := l.bounds()
	return stable
}

// Producers returns DescribeProducers' view of every producer this partition
// keeps state for, by producer ID.
func (l *Log) Producers() []ProducerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ProducerInfo, 0, len(l.producers))
	for id, e := range l.producers {
		last := int32(-1)
		if e.n > 0 {
			last = e.batches[e.n-1].lastSeq
		}
		out = append(out, ProducerInfo{
			ProducerID:            id,
			Epoch:                 e.epoch,
			LastSequence:          last,
			LastTimestamp:         e.lastTs,
			CoordinatorEpoch:      e.coordEpoch,
			CurrentTxnStartOffset: e.txnFirst,
		})
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

// abortedBetween returns the aborted transactions with records in [from, to):
// those whose marker is at or after from and whose first offset is below to,
// sorted by first offset. It takes segMu shared.
func (l *Log) abortedBetween(from, to int64) []AbortedTxn {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	segs := l.segs
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > from })-1, 0)
	return collectAborted(segs[i:], from, to)
}

// collectAborted gathers from segs, which start with the one holding from,
// the aborted transactions overlapping [from, to). A marker is never before
// its transaction's records, so earlier segments cannot hold one; it stops at
// the first entry showing every transaction starting below to had ended.
func collectAborted(segs []*segment, from, to int64) []AbortedTxn {
	var out []AbortedTxn
	done := false
	for _, s := range segs {
		s.txnMu.RLock()
		es := s.aborted
		j := sort.Search(len(es), func(j int) bool { return es[j].LastOffset >= from })
		for _, e := range es[j:] {
			if e.FirstOffset < to {
				out = append(out, e.AbortedTxn)
			}
			if e.stable >= to {
				done = true
				break
			}
		}
		s.txnMu.RUnlock()
		if done {
			break
		}
	}
	slices.SortFunc(out, func(a, b AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	return out
}
