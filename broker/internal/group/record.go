package group

import (
	"encoding/binary"
	"fmt"

	"github.com/eddy-io/eddy/broker/internal/journal"
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

// encode appends the record payload of o to dst.
func (o *op) encode(dst []byte) []byte {
	if o.at != 0 {
		dst = append(dst, opTimed)
		dst = binary.AppendVarint(dst, o.at)
	}
	dst = append(dst, o.kind)
	switch o.kind {
	case opDeleteTopic:
		return journal.AppendString(dst, o.topic)
	case opDeleteGroup:
		return journal.AppendString(dst, o.group)
	case opMembers:
		dst = journal.AppendString(dst, o.group)
		return journal.AppendBool(dst, o.members)
	case opTxnEnd:
		dst = journal.AppendString(dst, o.group)
		dst = binary.AppendVarint(dst, o.producerID)
		return journal.AppendBool(dst, o.commit)
	}
	dst = journal.AppendString(dst, o.group)
	if o.kind == opTxnCommit {
		dst = binary.AppendVarint(dst, o.producerID)
	}
	dst = binary.AppendUvarint(dst, uint64(len(o.entries)))
	for _, e := range o.entries {
		dst = journal.AppendString(dst, e.topic)
		dst = binary.AppendVarint(dst, int64(e.partition))
		if o.kind != opDelete {
			dst = binary.AppendVarint(dst, e.offset)
			dst = binary.AppendVarint(dst, int64(e.epoch))
			dst = journal.AppendString(dst, e.metadata)
		}
	}
	return dst
}

// decodeOp parses a record payload, with or without its opTimed prefix.
func decodeOp(payload []byte) (op, error) {
	if len(payload) == 0 || payload[0] != opTimed {
		return decodeUntimed(payload)
	}
	d := journal.NewDecoder(payload[1:])
	at := d.Varint()
	if d.Err() != nil || at <= 0 {
		return op{}, journal.ErrBadRecord
	}
	o, err := decodeUntimed(d.Rest())
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
		return op{}, journal.ErrBadRecord
	}
	o := op{kind: payload[0]}
	d := journal.NewDecoder(payload[1:])
	switch o.kind {
	case opDeleteTopic:
		o.topic = d.Str()
	case opDeleteGroup:
		o.group = d.Str()
	case opMembers:
		o.group = d.Str()
		o.members = d.Bool()
	case opTxnEnd:
		o.group = d.Str()
		o.producerID = d.Varint()
		o.commit = d.Bool()
	case opCommit, opDelete, opTxnCommit:
		o.group = d.Str()
		if o.kind == opTxnCommit {
			o.producerID = d.Varint()
		}
		n := d.Count()
		o.entries = make([]offsetEntry, 0, n)
		for range n {
			if d.Err() != nil {
				break
			}
			e := offsetEntry{topic: d.Str(), partition: d.Int32()}
			if o.kind != opDelete {
				e.offset = d.Varint()
				e.epoch = d.Int32()
				e.metadata = d.Str()
			}
			o.entries = append(o.entries, e)
		}
	default:
		return op{}, fmt.Errorf("%w: kind %d", journal.ErrBadRecord, o.kind)
	}
	if err := d.Finish(); err != nil {
		return op{}, err
	}
	return o, nil
}
