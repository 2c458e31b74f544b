package group

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kinds of offsets-log records. Each record is one operation; replaying them in order
// rebuilds the committed offsets and the transactions' pending ones. Kinds are only ever
// added, so that a log written before a kind existed still loads.
const (
	opCommit      byte = 1 // offsets of one group's partitions
	opDelete      byte = 2 // one group's offsets of some partitions removed, pending ones too
	opDeleteGroup byte = 3 // all offsets of one group removed, pending ones too
	opDeleteTopic byte = 4 // all groups' offsets of one topic removed, pending ones too
	opTxnCommit   byte = 5 // a producer's offsets of one group's partitions, pending
	opTxnEnd      byte = 6 // a producer's pending offsets of one group committed or dropped
	opTimed       byte = 7 // prefix: when the record that follows in the payload was written
	opMembers     byte = 8 // one group gained its first member or lost its last one
)

// errBadRecord reports a record that passed its CRC but does not decode: not a torn
// write, so the log is not trusted.
var errBadRecord = errors.New("undecodable offsets record")

// committed is a committed (or pending) offset with what the client sent along with it.
type committed struct {
	offset   int64
	epoch    int32
	metadata string
	// order is the position of the record that wrote the offset among the records
	// replayed or written since the store opened. When a transaction commits, its offset
	// of a partition replaces the committed one only if it was written later, as Kafka
	// decides by the records' offsets in __consumer_offsets. Not logged: the log's record
	// order is what it stands for.
	order uint64
}

// offsetEntry is one partition's part of an operation; delete operations use only topic
// and partition.
type offsetEntry struct {
	topic     string
	partition int32
	committed
}

// op is one change to the committed offsets, or to what their retention counts from,
// as logged.
type op struct {
	kind       byte
	group      string // all but opDeleteTopic
	topic      string // opDeleteTopic
	producerID int64  // opTxnCommit, opTxnEnd
	commit     bool   // opTxnEnd
	members    bool   // opMembers: whether the group has members from now on
	entries    []offsetEntry
	// at is when the record was written, in Unix milliseconds, logged as an opTimed
	// prefix; offset retention counts from it. 0 when unknown: records written before
	// opTimed existed, and compacted ones, whose times live in opMembers records.
	at int64
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// encode appends the record payload of o to dst.
func (o *op) encode(dst []byte) []byte {
	if o.at != 0 {
		dst = append(dst, opTimed)
		dst = binary.AppendVarint(dst, o.at)
	}
	dst = append(dst, o.kind)
	switch o.kind {
	case opDeleteTopic:
		return appendString(dst, o.topic)
	case opDeleteGroup:
		return appendString(dst, o.group)
	case opMembers:
		dst = appendString(dst, o.group)
		return appendBool(dst, o.members)
	case opTxnEnd:
		dst = appendString(dst, o.group)
		dst = binary.AppendVarint(dst, o.producerID)
		return appendBool(dst, o.commit)
	}
	dst = appendString(dst, o.group)
	if o.kind == opTxnCommit {
		dst = binary.AppendVarint(dst, o.producerID)
	}
	dst = binary.AppendUvarint(dst, uint64(len(o.entries)))
	for _, e := range o.entries {
		dst = appendString(dst, e.topic)
		dst = binary.AppendVarint(dst, int64(e.partition))
		if o.kind != opDelete {
			dst = binary.AppendVarint(dst, e.offset)
			dst = binary.AppendVarint(dst, int64(e.epoch))
			dst = appendString(dst, e.metadata)
		}
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

func (d *decoder) bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail()
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeOp parses a record payload, with or without its opTimed prefix.
func decodeOp(payload []byte) (op, error) {
	if len(payload) == 0 || payload[0] != opTimed {
		return decodeUntimed(payload)
	}
	d := decoder{b: payload[1:]}
	at := d.varint()
	if d.err != nil || at <= 0 {
		return op{}, errBadRecord
	}
	o, err := decodeUntimed(d.b)
	if err != nil {
		return op{}, err
	}
	o.at = at
	return o, nil
}

// decodeUntimed parses a record payload without its opTimed prefix; a second prefix is
// not a record.
func decodeUntimed(payload []byte) (op, error) {
	if len(payload) == 0 {
		return op{}, errBadRecord
	}
	o := op{kind: payload[0]}
	d := decoder{b: payload[1:]}
	switch o.kind {
	case opDeleteTopic:
		o.topic = d.string()
	case opDeleteGroup:
		o.group = d.string()
	case opMembers:
		o.group = d.string()
		o.members = d.bool()
	case opTxnEnd:
		o.group = d.string()
		o.producerID = d.varint()
		o.commit = d.bool()
	case opCommit, opDelete, opTxnCommit:
		o.group = d.string()
		if o.kind == opTxnCommit {
			o.producerID = d.varint()
		}
		n := d.uvarint()
		if n > uint64(len(d.b)) { // every entry takes at least one byte
			d.fail()
		}
		o.entries = make([]offsetEntry, 0, n)
		for range n {
			if d.err != nil {
				break
			}
			e := offsetEntry{topic: d.string(), partition: d.int32()}
			if o.kind != opDelete {
				e.offset = d.varint()
				e.epoch = d.int32()
				e.metadata = d.string()
			}
			o.entries = append(o.entries, e)
		}
	default:
		return op{}, fmt.Errorf("%w: kind %d", errBadRecord, o.kind)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return op{}, d.err
	}
	return o, nil
}
