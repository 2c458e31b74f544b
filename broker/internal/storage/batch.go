package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Byte positions of the fixed RecordBatch (magic 2) header fields. The
// storage format is the wire format, so the hot paths (Append, Read, recovery)
// read these fields in place instead of decoding whole batches; records are
// decoded with kmsg only where their contents matter (OffsetForTimestamp).
const (
	offBaseOffset      = 0
	offLength          = 8
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
	headerLen          = 61

	// lengthPrefix is the part of a batch that its length field does not count.
	lengthPrefix = 12

	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the part of a batch header the log acts on.
type batchHeader struct {
	baseOffset   int64
	lastOffset   int64
	maxTimestamp int64
	producerID   int64
	epoch        int16
	baseSequence int32
	attributes   int16
}

func parseHeader(b []byte) batchHeader {
	base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	return batchHeader{
		baseOffset:   base,
		lastOffset:   base + int64(int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))),
		maxTimestamp: int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		producerID:   int64(binary.BigEndian.Uint64(b[offProducerID:])),
		epoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		baseSequence: int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		attributes:   int16(binary.BigEndian.Uint16(b[offAttributes:])),
	}
}

// batchLen returns the total size of the batch starting at b[0] as its length
// field claims it, or -1 when b is too short to hold a length field or the
// claim is smaller than a header.
func batchLen(b []byte) int {
	if len(b) < lengthPrefix {
		return -1
	}
	n := int64(int32(binary.BigEndian.Uint32(b[offLength:]))) + lengthPrefix
	if n < headerLen || n > maxSegmentBytes {
		return -1
	}
	return int(n)
}

// checkBatch validates one whole batch: length, magic and CRC-32C.
func checkBatch(b []byte) error {
	n := batchLen(b)
	if n < 0 || n != len(b) {
		return fmt.Errorf("%w: bad length", ErrCorruptBatch)
	}
	if b[offMagic] != 2 {
		return fmt.Errorf("%w: magic %d", ErrCorruptBatch, b[offMagic])
	}
	if binary.BigEndian.Uint32(b[offCRC:]) != crc32.Checksum(b[offAttributes:], crcTable) {
		return fmt.Errorf("%w: CRC-32C mismatch", ErrCorruptBatch)
	}
	return nil
}

// SplitBatches splits a produce payload into its record batches without
// copying; each returned slice is capped so that appending to it cannot touch
// the next. Every batch is checked for length, magic 2 and CRC-32C, and any
// failure returns ErrCorruptBatch and no batches. An empty payload yields no
// batches and no error; whether that is acceptable is the caller's call.
func SplitBatches(data []byte) ([][]byte, error) {
	var out [][]byte
	for pos := 0; pos < len(data); {
		rest := data[pos:]
		n := batchLen(rest)
		if n < 0 || n > len(rest) {
			return nil, fmt.Errorf("%w: truncated batch at byte %d", ErrCorruptBatch, pos)
		}
		b := rest[:n:n]
		if err := checkBatch(b); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		out = append(out, b)
		pos += n
	}
	return out, nil
}
