package dsl

import (
	"encoding/binary"
	"fmt"

	"github.com/eddy-io/eddy/state"
)

// The outer store of a left or outer stream-stream join keeps the records still
// without a match, each under the key
//
//	timestamp (8 bytes, ordered) | side (1 byte) | key length (4 bytes) | key | n (4 bytes)
//
// so a scan from the start meets them in timestamp order, the records of one side, key
// and timestamp share a prefix (removed together when they join), and n tells apart
// duplicates of one key and timestamp, which Kafka Streams keeps in a list.

// keptPrefix returns the key prefix of the records of side with encoded key kb at ts.
func keptPrefix(ts int64, side int, kb []byte) []byte {
	b := make([]byte, 0, 8+1+4+len(kb)+4)
	b = binary.BigEndian.AppendUint64(b, uint64(ts)^(1<<63))
	b = append(b, byte(side))
	b = binary.BigEndian.AppendUint32(b, uint32(len(kb)))
	return append(b, kb...)
}

// keptKey returns the key of the n-th record under prefix.
func keptKey(prefix []byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte{}, prefix...), n)
}

// splitKept returns the timestamp, side and encoded key of a kept record's key.
func splitKept(b []byte) (ts int64, side int, kb []byte, err error) {
	if len(b) < 8+1+4+4 {
		return 0, 0, nil, fmt.Errorf("%w: join outer store key of %d bytes", state.ErrCorrupt, len(b))
	}
	ts = int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	side = int(b[8])
	n := binary.BigEndian.Uint32(b[9:])
	if uint64(n) != uint64(len(b)-8-1-4-4) || side > joinRight {
		return 0, 0, nil, fmt.Errorf("%w: join outer store key: bad layout", state.ErrCorrupt)
	}
	return ts, side, b[13 : 13+n], nil
}
