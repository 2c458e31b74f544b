package dsl

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/eddy-io/eddy/serde"
)

// What a left row asks of the right side of a foreign-key join (KIP-213's
// instructions).
const (
	// fkDeleteAndPropagate: the row was deleted; forget it and answer, so its result
	// is deleted.
	fkDeleteAndPropagate byte = iota + 1
	// fkDeleteNoPropagate: the row's foreign key moved away; forget it, silently (the
	// new key's answer updates the result).
	fkDeleteNoPropagate
	// fkPropagateNullIfMissing: subscribe and answer even when the right row is
	// missing, so a result that stops joining is deleted (a foreign key change) or
	// joined with nil (a left join).
	fkPropagateNullIfMissing
	// fkPropagateIfPresent: subscribe and answer only when the right row exists.
	fkPropagateIfPresent
)

// fkSubscription is a record of the registration topic, keyed by the foreign key: the
// left row's key, what it asks and the hash of its value when it asked.
type fkSubscription[K any] struct {
	instruction byte
	hash        []byte // nil for a delete
	key         K
}

// fkSubscriptionSerde lays a subscription out as instruction (1 byte), hash length
// (1 byte), hash, then the key's bytes.
type fkSubscriptionSerde[K any] struct{ keys serde.Serde[K] }

func (s fkSubscriptionSerde[K]) Encode(v fkSubscription[K]) ([]byte, error) {
	kb, err := s.keys.Encode(v.key)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+len(v.hash)+len(kb))
	b = append(b, v.instruction, byte(len(v.hash)))
	return append(append(b, v.hash...), kb...), nil
}

func (s fkSubscriptionSerde[K]) Decode(b []byte) (fkSubscription[K], error) {
	var v fkSubscription[K]
	if len(b) < 2 || len(b) < 2+int(b[1]) || b[0] < fkDeleteAndPropagate || b[0] > fkPropagateIfPresent {
		return v, fmt.Errorf("%w: foreign-key join subscription: bad layout", serde.ErrDecode)
	}
	v.instruction = b[0]
	if n := int(b[1]); n > 0 {
		v.hash = append([]byte{}, b[2:2+n]...)
	}
	var err error
	v.key, err = s.keys.Decode(b[2+int(b[1]):])
	return v, err
}

// fkResponse is a record of the response topic, keyed by the left row's key: the
// right row's value (nil when missing) for the left value of that hash.
type fkResponse[VO any] struct {
	hash  []byte
	value *VO
}

// fkResponseSerde lays a response out as hash length (1 byte), hash, then the right
// value's bytes, absent for nil.
type fkResponseSerde[VO any] struct{ values serde.Serde[VO] }

func (s fkResponseSerde[VO]) Encode(v fkResponse[VO]) ([]byte, error) {
	b := append([]byte{byte(len(v.hash))}, v.hash...)
	if v.value == nil {
		return b, nil
	}
	vb, err := s.values.Encode(*v.value)
	if err != nil {
		return nil, err
	}
	return append(append(b, 1), vb...), nil
}

func (s fkResponseSerde[VO]) Decode(b []byte) (fkResponse[VO], error) {
	var v fkResponse[VO]
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return v, fmt.Errorf("%w: foreign-key join response: bad layout", serde.ErrDecode)
	}
	n := int(b[0])
	if n > 0 {
		v.hash = append([]byte{}, b[1:1+n]...)
	}
	rest := b[1+n:]
	if len(rest) == 0 {
		return v, nil
	}
	vo, err := s.values.Decode(rest[1:])
	if err != nil {
		return v, err
	}
	v.value = &vo
	return v, nil
}

// fkHash returns the hash a response must carry to apply to the left value encoded
// as b: 128-bit FNV-1a, as Kafka uses a 128-bit murmur3; nil for a missing value.
func fkHash(b []byte) []byte {
	if b == nil {
		return nil
	}
	h := fnv.New128a()
	h.Write(b)
	return h.Sum(nil)
}

// fkStoreKey returns the subscription store's key of the left row kb subscribed to the
// foreign key fkb: the foreign key's length (4 bytes), the foreign key, then the left
// key, so the subscribers of one foreign key share a prefix.
func fkStoreKey(fkb, kb []byte) []byte {
	b := make([]byte, 0, 4+len(fkb)+len(kb))
	b = binary.BigEndian.AppendUint32(b, uint32(len(fkb)))
	return append(append(b, fkb...), kb...)
}

// fkStorePrefix returns the prefix of the subscribers of fkb.
func fkStorePrefix(fkb []byte) []byte { return fkStoreKey(fkb, nil) }
