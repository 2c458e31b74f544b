package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Kinds of state-log records. A record holds the whole state of one transactional ID,
// so the latest record of each ID is all a replay or a compaction needs.
const (
	recState  byte = 1 // the ID's state
	recExpire byte = 2 // the ID was forgotten
)

// errBadRecord reports a record that passed its CRC but does not decode: not a torn
// write, so the log is not trusted.
var errBadRecord = errors.New("undecodable transaction record")

// record is one state-log entry; m is nil for recExpire.
type record struct {
	id string
	m  *meta
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
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
		return appendString(dst, r.id)
	}
	m := r.m
	dst = append(dst, recState)
	dst = appendString(dst, r.id)
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
		dst = appendString(dst, t)
		ps := m.partitions[t]
		dst = binary.AppendUvarint(dst, uint64(len(ps)))
		for _, p := range slices.Sorted(maps.Keys(ps)) {
			dst = binary.AppendVarint(dst, int64(p))
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.groups)))
	for _, g := range slices.Sorted(maps.Keys(m.groups)) {
		dst = appendString(dst, g)
	}
	return dst
}

// decoder reads a record payload; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errBadRecord
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if int64(int32(v)) != v {
		d.fail()
	}
	return int32(v)
}

func (d *decoder) int16() int16 {
	v := d.varint()
	if int64(int16(v)) != v {
		d.fail()
	}
	return int16(v)
}

// count reads a length that must not exceed the bytes left, as every element takes one.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	ms := d.varint()
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// decodeRecord parses a record payload.
func decodeRecord(payload []byte) (record, error) {
	d := decoder{b: payload}
	var r record
	switch kind := d.byte(); kind {
	case recExpire:
		r.id = d.string()
	case recState:
		r.id = d.string()
		m := &meta{
			producerID:     d.varint(),
			epoch:          d.int16(),
			lastProducerID: d.varint(),
			lastEpoch:      d.int16(),
			timeout:        time.Duration(d.varint()) * time.Millisecond,
			state:          state(d.byte()),
			start:          d.time(),
			updated:        d.time(),
			partitions:     map[string]map[int32]struct{}{},
			groups:         map[string]struct{}{},
		}
		if _, ok := stateNames[m.state]; !ok || m.state == stateDead {
			d.fail()
		}
		for range d.count() {
			t := d.string()
			for range d.count() {
				m.addPartition(TopicPartition{Topic: t, Partition: d.int32()})
			}
		}
		for range d.count() {
			m.groups[d.string()] = struct{}{}
		}
		r.m = m
	default:
		if d.err == nil {
			return record{}, fmt.Errorf("%w: kind %d", errBadRecord, kind)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return record{}, d.err
	}
	return r, nil
}
