package txn

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/eddy-io/eddy/broker/internal/journal"
)

// Kinds of state-log records. A record holds the whole state of one transactional ID,
// so the latest record of each ID is all a replay or a compaction needs.
const (
	recState  byte = 1 // the ID's state
	recExpire byte = 2 // the ID was forgotten
)

// record is one state-log entry; m is nil for recExpire.
type record struct {
	id string
	m  *meta
}

// appendTime stores a time as Unix milliseconds, the zero time as -1.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(dst, -1)
	}
	return binary.AppendVarint(dst, t.UnixMilli())
}

// encode appends the payload of r to dst.
func (r *record) encode(dst []byte) []byte {
	if r.m == nil {
		dst = append(dst, recExpire)
		return journal.AppendString(dst, r.id)
	}
	m := r.m
	dst = append(dst, recState)
	dst = journal.AppendString(dst, r.id)
	dst = binary.AppendVarint(dst, m.producerID)
	dst = binary.AppendVarint(dst, int64(m.epoch))
	dst = binary.AppendVarint(dst, m.lastProducerID)
	dst = binary.AppendVarint(dst, int64(m.lastEpoch))
	dst = binary.AppendVarint(dst, m.timeout.Milliseconds())
	dst = append(dst, byte(m.state))
	dst = appendTime(dst, m.start)
	dst = appendTime(dst, m.updated)
	dst = binary.AppendUvarint(dst, uint64(len(m.partitions)))
	for _, t := range slices.Sorted(maps.Keys(m.partitions)) {
		dst = journal.AppendString(dst, t)
		ps := m.partitions[t]
		dst = binary.AppendUvarint(dst, uint64(len(ps)))
		for _, p := range slices.Sorted(maps.Keys(ps)) {
			dst = binary.AppendVarint(dst, int64(p))
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.groups)))
	for _, g := range slices.Sorted(maps.Keys(m.groups)) {
		dst = journal.AppendString(dst, g)
	}
	return dst
}

// readTime reads a time written by appendTime.
func readTime(d *journal.Decoder) time.Time {
	ms := d.Varint()
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// decodeRecord parses a record payload.
func decodeRecord(payload []byte) (record, error) {
	d := journal.NewDecoder(payload)
	var r record
	switch kind := d.Byte(); kind {
	case recExpire:
		r.id = d.Str()
	case recState:
		r.id = d.Str()
		m := &meta{
			producerID:     d.Varint(),
			epoch:          d.Int16(),
			lastProducerID: d.Varint(),
			lastEpoch:      d.Int16(),
			timeout:        time.Duration(d.Varint()) * time.Millisecond,
			state:          state(d.Byte()),
			start:          readTime(d),
			updated:        readTime(d),
			partitions:     map[string]map[int32]struct{}{},
			groups:         map[string]struct{}{},
		}
		if _, ok := stateNames[m.state]; !ok || m.state == stateDead {
			d.Fail()
		}
		for range d.Count() {
			t := d.Str()
			for range d.Count() {
				m.addPartition(TopicPartition{Topic: t, Partition: d.Int32()})
			}
		}
		for range d.Count() {
			m.groups[d.Str()] = struct{}{}
		}
		r.m = m
	default:
		if d.Err() == nil {
			return record{}, fmt.Errorf("%w: kind %d", journal.ErrBadRecord, kind)
		}
	}
	if err := d.Finish(); err != nil {
		return record{}, err
	}
	return r, nil
}
