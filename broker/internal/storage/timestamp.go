package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxDecompressed bounds what one batch may inflate to, so that a hostile
// batch cannot exhaust memory when OffsetForTimestamp opens it.
const maxDecompressed = 256 << 20

// OffsetForTimestamp returns the earliest visible offset whose record
// timestamp is >= ts, with that timestamp, for ListOffsets by time. found is
// false when no record qualifies. It skips whole segments by their newest
// timestamp and within a segment starts at the time index entry before ts,
// then checks records one by one, decompressing the batch that holds the
// match.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	if l.closed.Load() {
		return 0, 0, false, ErrClosed
	}
	hw, lso := l.hw.Load(), l.lso.Load()
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return 0, 0, false, ErrClosed
	}
	for _, s := range l.segs {
		if s.base >= hw {
			break
		}
		if s.maxTs.Load() < ts {
			continue
		}
		it := batchReader{r: s.f, pos: s.lookupTime(ts), end: s.size.Load()}
		for {
			_, b, ok := it.next(true)
			if !ok {
				break
			}
			h := parseHeader(b)
			if h.baseOffset >= hw {
				return 0, 0, false, nil
			}
			if h.lastOffset < lso || h.maxTimestamp < ts {
				continue
			}
			if h.attributes&attrLogAppendTime != 0 {
				return max(h.baseOffset, lso), h.maxTimestamp, true, nil
			}
			off, t, ok, err := findRecord(b, ts, lso, hw)
			if err != nil {
				return 0, 0, false, fmt.Errorf("batch at offset %d: %w", h.baseOffset, err)
			}
			if ok {
				return off, t, true, nil
			}
		}
		if it.err != nil {
			return 0, 0, false, it.err
		}
	}
	return 0, 0, false, nil
}

// findRecord returns the first record of batch b in [lso, hw) whose
// timestamp is >= ts.
func findRecord(b []byte, ts, lso, hw int64) (int64, int64, bool, error) {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		return 0, 0, false, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
	}
	raw := rb.Records
	if codec := rb.Attributes & attrCodecMask; codec != 0 {
		var err error
		if raw, err = decompress(codec, raw); err != nil {
			return 0, 0, false, fmt.Errorf("%w: codec %d: %w", ErrCorruptBatch, codec, err)
		}
	}
	for range rb.NumRecords {
		length, n := binary.Varint(raw)
		if n <= 0 || length < 0 || length > int64(len(raw)-n) {
			return 0, 0, false, fmt.Errorf("%w: bad record length", ErrCorruptBatch)
		}
		var r kmsg.Record
		if err := r.ReadFrom(raw[:n+int(length)]); err != nil {
			return 0, 0, false, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
		}
		raw = raw[n+int(length):]
		off, t := rb.FirstOffset+int64(r.OffsetDelta), rb.FirstTimestamp+r.TimestampDelta64
		if t >= ts && off >= lso && off < hw {
			return off, t, true, nil
		}
	}
	return 0, 0, false, nil
}

func decompress(codec int16, src []byte) ([]byte, error) {
	switch codec {
	case 1:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readAllLimited(zr)
	case 2:
		return decodeSnappy(src)
	case 3:
		return readAllLimited(lz4.NewReader(bytes.NewReader(src)))
	case 4:
		d, err := zstdDecoder()
		if err != nil {
			return nil, err
		}
		return d.DecodeAll(src, nil)
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

func readAllLimited(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err == nil && len(out) > maxDecompressed {
		err = fmt.Errorf("records inflate beyond %d bytes", maxDecompressed)
	}
	return out, err
}

// zstdDecoder is shared by all logs: DecodeAll is safe for concurrent use and
// it only serves the ListOffsets path, never produce or fetch.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))
})

// xerialMagic starts the framing the Java client wraps snappy in: the magic,
// two 4-byte version fields, then blocks of a 4-byte big-endian length and a
// raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// decodeSnappy decodes a raw snappy block or a xerial-framed stream of them.
func decodeSnappy(src []byte) ([]byte, error) {
	if len(src) < xerialHeaderLen || !bytes.HasPrefix(src, xerialMagic) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > maxDecompressed {
			return nil, fmt.Errorf("records inflate beyond %d bytes", maxDecompressed)
		}
		return s2.Decode(nil, src)
	}
	var out []byte
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("truncated xerial block length")
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return nil, fmt.Errorf("xerial block overruns the batch")
		}
		block := rest[:size]
		rest = rest[size:]
		n, err := s2.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if len(out)+n > maxDecompressed {
			return nil, fmt.Errorf("records inflate beyond %d bytes", maxDecompressed)
		}
		out = slices.Grow(out, n)
		if _, err := s2.Decode(out[len(out):len(out)+n], block); err != nil {
			return nil, err
		}
		out = out[:len(out)+n]
	}
	return out, nil
}
