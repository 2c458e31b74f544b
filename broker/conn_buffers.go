package broker

import (
	"bufio"
	"io"
	"slices"
	"sync"
)

// Connection buffers are pooled rather than owned so that an idle connection holds none:
// a thousand idle clients cost goroutines, not buffers.
const (
	// readBufSize is the read-ahead of a connection with requests arriving; larger
	// bodies are read straight into their own memory.
	readBufSize = 16 << 10
	// writeBatchBytes caps how much of the responses ready together is gathered for
	// one write; pooled write buffers are no larger.
	writeBatchBytes = 64 << 10
	// bodyChunk is the first allocation for a request body; a larger body grows as its
	// bytes arrive.
	bodyChunk = 64 << 10
)

var (
	readerPool   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}
	writeBufPool sync.Pool // *[]byte of capacity up to writeBatchBytes
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

// getWriteBuf returns an empty pooled buffer, or nil when the pool has none.
func getWriteBuf() []byte {
	if p, ok := writeBufPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// putWriteBuf keeps buf for reuse unless it grew past writeBatchBytes for one large
// response, which is left to the garbage collector.
func putWriteBuf(buf []byte) {
	if cap(buf) > 0 && cap(buf) <= writeBatchBytes {
		writeBufPool.Put(&buf)
	}
}

// readBody reads a request body of size bytes. Memory grows with the bytes that arrive,
// not with the size announced: a size prefix alone does not make the broker allocate
// MaxRequestBytes.
func readBody(r io.Reader, size int) ([]byte, error) {
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
