package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// xerialBlock is the block size of the xerial snappy framing the cleaner
// writes, the Java client's own.
const xerialBlock = 32 << 10

// compressRecords compresses the records of a batch the cleaner rewrote with
// the codec the batch had, so that it reaches consumers as it was produced.
// Snappy keeps the producer's framing: xerial when the original used it
// (the Java client), a raw block otherwise.
func compressRecords(codec int16, xerial bool, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case 0:
		return src, nil
	case 1:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case 2:
		if !xerial {
			return s2.EncodeSnappy(nil, src), nil
		}
		buf.Write(xerialMagic)
		buf.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1}) // version and compatible version
		for len(src) > 0 {
			n := min(len(src), xerialBlock)
			block := s2.EncodeSnappy(nil, src[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			buf.Write(block)
			src = src[n:]
		}
	case 3:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case 4:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, nil), nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	return buf.Bytes(), nil
}

// isXerial reports whether snappy-compressed records use the xerial framing.
func isXerial(src []byte) bool {
	return len(src) >= xerialHeaderLen && bytes.HasPrefix(src, xerialMagic)
}

// zstdEncoder is shared by all logs; EncodeAll is safe for concurrent use.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
})
