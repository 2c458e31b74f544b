package dsl

import (
	"encoding/binary"
	"fmt"

	"github.com/eddy-io/eddy/serde"
)

// change is what table nodes forward to each other: a key's value before and after an
// update, nil when absent. The old value is what lets an aggregate with a subtractor
// take back what an update replaces, and a nil new value is a delete.
type change[V any] struct {
	old, new *V
}

// changeSerde encodes changes for the repartition topic of a table grouping, as Kafka
// Streams' ChangedSerializer: a flags byte (1: has old, 2: has new), then the old
// value's length (4 bytes big-endian) when both are present, then the old and new
// values' bytes.
type changeSerde[V any] struct{ inner serde.Serde[V] }

const (
	changeHasOld = 1 << iota
	changeHasNew
)

func (s changeSerde[V]) Encode(c change[V]) ([]byte, error) {
	var oldB, newB []byte
	var flags byte
	var err error
	if c.old != nil {
		if oldB, err = s.inner.Encode(*c.old); err != nil {
			return nil, err
		}
		flags |= changeHasOld
	}
	if c.new != nil {
		if newB, err = s.inner.Encode(*c.new); err != nil {
			return nil, err
		}
		flags |= changeHasNew
	}
	out := make([]byte, 0, 5+len(oldB)+len(newB))
	out = append(out, flags)
	if flags == changeHasOld|changeHasNew {
		out = binary.BigEndian.AppendUint32(out, uint32(len(oldB)))
	}
	return append(append(out, oldB...), newB...), nil
}

func (s changeSerde[V]) Decode(b []byte) (change[V], error) {
	var c change[V]
	if len(b) == 0 {
		return c, fmt.Errorf("%w: table change: empty", serde.ErrDecode)
	}
	flags, rest := b[0], b[1:]
	var oldB, newB []byte
	switch flags {
	case changeHasOld:
		oldB = rest
	case changeHasNew:
		newB = rest
	case changeHasOld | changeHasNew:
		if len(rest) < 4 || uint64(binary.BigEndian.Uint32(rest)) > uint64(len(rest)-4) {
			return c, fmt.Errorf("%w: table change: bad old value length", serde.ErrDecode)
		}
		n := binary.BigEndian.Uint32(rest)
		oldB, newB = rest[4:4+n], rest[4+n:]
	default:
		return c, fmt.Errorf("%w: table change: bad flags %#x", serde.ErrDecode, flags)
	}
	var err error
	if flags&changeHasOld != 0 {
		if c.old, err = s.decode(oldB); err != nil {
			return c, err
		}
	}
	if flags&changeHasNew != 0 {
		if c.new, err = s.decode(newB); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (s changeSerde[V]) decode(b []byte) (*V, error) {
	v, err := s.inner.Decode(b)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
