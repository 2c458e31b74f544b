package broker

import (
	"bufio"
	"encoding/binary"
	"io"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Connection buffers are pooled rather than owned so that an idle connection holds none:
// a thousand idle clients cost goroutines, not buffers.
const (
	// readBufSize is the read-ahead of a connection with requests arriving; larger
	// bodies are read straight into their own memory.
	readBufSize = 16 << 10
	// writeBatchBytes caps how much of the responses ready together is gathered for
	// one write (a single larger response is written alone).
	writeBatchBytes = 64 << 10
	// maxPooledBuf is the largest buffer kept for reuse: above the largest fetch
	// answer (fetchMaxBytes), so that a consumer's answers and a producer's requests
	// reuse memory instead of making garbage at the rate they move bytes.
	maxPooledBuf = 64 << 20
	// bodyChunk is the first allocation for a request body; a larger body grows as its
	// bytes arrive.
	bodyChunk = 64 << 10
)

var (
	readerPool   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}
	writeBufPool sync.Pool // *[]byte of capacity up to maxPooledBuf
	// bodyPool holds the bodies of produce requests once handled: nothing of a produce
	// request outlives its handler, since the log copies the batches, whereas the
	// decoded fields of other requests may point into their body (group metadata).
	bodyPool sync.Pool // *[]byte of capacity above bodyChunk, up to maxPooledBuf
)

// getReader returns a pooled read buffer over r.
func getReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// putReader returns br, which may be nil, to the pool; anything still buffered is lost.
func putReader(br *bufio.Reader) {
	if br != nil {
		br.Reset(nil)
		readerPool.Put(br)
	}
}

// getWriteBuf returns an empty buffer with room for at least hint bytes, pooled when
// the pool has one that large.
func getWriteBuf(hint int) []byte {
	if p, ok := writeBufPool.Get().(*[]byte); ok {
		if cap(*p) >= hint {
			return (*p)[:0]
		}
		writeBufPool.Put(p)
	}
	return make([]byte, 0, max(hint, 4<<10))
}

// putWriteBuf keeps buf for reuse unless it is larger than any answer needs.
func putWriteBuf(buf []byte) {
	if cap(buf) > 0 && cap(buf) <= maxPooledBuf {
		writeBufPool.Put(&buf)
	}
}

// responseSizeHint is about how many bytes resp encodes to, so that its buffer is
// allocated once: a fetch answer is mostly its record batches.
func responseSizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 1 << 10
	for _, t := range f.Topics {
		n += len(t.Topic) + 16
		for _, p := range t.Partitions {
			n += len(p.RecordBatches) + 64 + 16*len(p.AbortedTransactions)
		}
	}
	return n
}

// releaseBody lets the next large request reuse body once it has been handled, when
// it is a produce request's (see bodyPool).
func releaseBody(body []byte) {
	if len(body) >= 2 && int16(binary.BigEndian.Uint16(body)) == kmsg.Produce.Int16() &&
		cap(body) > bodyChunk && cap(body) <= maxPooledBuf {
		bodyPool.Put(&body)
	}
}

// readBody reads a request body of size bytes. Memory grows with the bytes that arrive,
// not with the size announced: a size prefix alone does not make the broker allocate
// MaxRequestBytes.
func readBody(r io.Reader, size int) ([]byte, error) {
	if size > bodyChunk {
		if p, ok := bodyPool.Get().(*[]byte); ok {
			if cap(*p) >= size {
				body := (*p)[:size]
				if _, err := io.ReadFull(r, body); err != nil {
					return nil, err
				}
				return body, nil
			}
			bodyPool.Put(p)
		}
	}
	body := make([]byte, 0, min(size, bodyChunk))
	for len(body) < size {
		have := len(body)
		next := min(size, max(2*have, bodyChunk))
		body = slices.Grow(body, next-have)[:next]
		if _, err := io.ReadFull(r, body[have:]); err != nil {
			return nil, err
		}
	}
	return body, nil
}
