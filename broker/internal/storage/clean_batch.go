package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// cleanRecord is one record of a batch the cleaner looks into.
type cleanRecord struct {
	raw       []byte // the encoded record with its length prefix, kept verbatim
	offset    int64
	timestamp int64
	key       []byte // nil for a record without a key
	tombstone bool   // a keyed record with a null value
}

// decodedBatch is a batch opened by the cleaner: its header fields, its
// records decompressed and the snappy framing they came in.
type decodedBatch struct {
	rb      kmsg.RecordBatch
	records []cleanRecord
	xerial  bool
}

// decodeBatch opens a whole batch with kmsg, decompressing its records with
// the codec of its attributes.
func decodeBatch(b []byte) (*decodedBatch, error) {
	d := &decodedBatch{}
	if err := d.rb.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
	}
	raw := d.rb.Records
	if codec := d.rb.Attributes & attrCodecMask; codec != 0 {
		d.xerial = codec == 2 && isXerial(raw)
		var err error
		if raw, err = decompress(codec, raw); err != nil {
			return nil, fmt.Errorf("%w: codec %d: %w", ErrCorruptBatch, codec, err)
		}
	}
	d.records = make([]cleanRecord, 0, max(d.rb.NumRecords, 0))
	for range d.rb.NumRecords {
		length, n := binary.Varint(raw)
		if n <= 0 || length < 0 || length > int64(len(raw)-n) {
			return nil, fmt.Errorf("%w: bad record length", ErrCorruptBatch)
		}
		one := raw[:n+int(length)]
		raw = raw[len(one):]
		var r kmsg.Record
		if err := r.ReadFrom(one); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
		}
		d.records = append(d.records, cleanRecord{
			raw:       one,
			offset:    d.rb.FirstOffset + int64(r.OffsetDelta),
			timestamp: d.rb.FirstTimestamp + r.TimestampDelta64,
			key:       r.Key,
			tombstone: r.Key != nil && r.Value == nil,
		})
	}
	return d, nil
}

// rebuild encodes the batch again with only the kept records, as Kafka's
// cleaner does: base offset, last offset delta, producer ID, epoch, base
// sequence, partition leader epoch and attributes stay, so that offsets
// and the producer's sequence numbers still add up. The records keep their
// bytes (their deltas stay valid against the unchanged base offset and first
// timestamp) and are compressed again with the batch's codec. A CreateTime
// batch's max timestamp becomes that of the kept records. With nothing kept
// the result is an empty batch (no records, no compression, both timestamps
// the old max), which Kafka clients step over.
func (d *decodedBatch) rebuild(kept []cleanRecord) ([]byte, error) {
	out := d.rb
	if len(kept) == 0 {
		out.Attributes &^= attrCodecMask
		out.FirstTimestamp = d.rb.MaxTimestamp
		out.NumRecords = 0
		out.Records = nil
	} else {
		var raw []byte
		maxTs := int64(math.MinInt64)
		for _, r := range kept {
			raw = append(raw, r.raw...)
			maxTs = max(maxTs, r.timestamp)
		}
		if d.rb.Attributes&attrLogAppendTime == 0 {
			out.MaxTimestamp = maxTs
		}
		var err error
		if out.Records, err = compressRecords(d.rb.Attributes&attrCodecMask, d.xerial, raw); err != nil {
			return nil, fmt.Errorf("storage: recompress batch at offset %d: %w", d.rb.FirstOffset, err)
		}
		out.NumRecords = int32(len(kept))
	}
	b := out.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthPrefix))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	return b, nil
}
