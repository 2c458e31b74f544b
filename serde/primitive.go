package serde

import (
	"encoding/binary"
	"math"
)

// String returns the serde of UTF-8 strings, as Kafka's StringSerializer: the bytes of
// the string, nothing else. The empty string encodes to empty, non-nil bytes; decoding
// nil fails with ErrNull. Invalid UTF-8 is passed through unchanged, as Go strings allow.
func String() Serde[string] { return stringSerde{} }

type stringSerde struct{}

func (stringSerde) Encode(v string) ([]byte, error) { return append([]byte{}, v...), nil }

func (stringSerde) Decode(b []byte) (string, error) {
	if b == nil {
		return "", nullErr("string")
	}
	return string(b), nil
}

// Bytes returns the serde of raw bytes. It copies on both sides so neither side's later
// writes show through, and it is the one built-in that carries null as is: a nil slice
// encodes to nil (a tombstone) and nil decodes to a nil slice, while an empty slice stays
// empty and non-nil.
func Bytes() Serde[[]byte] { return bytesSerde{} }

type bytesSerde struct{}

func (bytesSerde) Encode(v []byte) ([]byte, error) { return cloneBytes(v), nil }

func (bytesSerde) Decode(b []byte) ([]byte, error) { return cloneBytes(b), nil }

// cloneBytes copies b, keeping nil as nil and empty as empty non-nil.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Int32 returns the serde of int32 as 4 bytes big-endian two's complement, as Kafka's
// IntegerSerializer. Byte order is not numeric order for negative numbers; store keys
// that must sort numerically use OrderedInt64. Decoding anything but 4 bytes fails.
func Int32() Serde[int32] { return int32Serde{} }

type int32Serde struct{}

func (int32Serde) Encode(v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(v)), nil
}

func (int32Serde) Decode(b []byte) (int32, error) {
	if err := checkFixed("int32", b, 4); err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// Int64 returns the serde of int64 as 8 bytes big-endian two's complement, as Kafka's
// LongSerializer. Byte order is not numeric order for negative numbers; see OrderedInt64.
// Decoding anything but 8 bytes fails.
func Int64() Serde[int64] { return int64Serde{} }

type int64Serde struct{}

func (int64Serde) Encode(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)), nil
}

func (int64Serde) Decode(b []byte) (int64, error) {
	if err := checkFixed("int64", b, 8); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// OrderedInt64 returns a serde of int64 whose byte order is numeric order: 8 bytes
// big-endian with the sign bit flipped. It is not Kafka's LongSerializer (use Int64 on
// topics other programs read); it is for store keys that are range-scanned, and is the
// encoding of the times inside WindowedKey and SessionKey.
func OrderedInt64() Serde[int64] { return orderedInt64Serde{} }

type orderedInt64Serde struct{}

func (orderedInt64Serde) Encode(v int64) ([]byte, error) {
	return appendOrdered(make([]byte, 0, 8), v), nil
}

func (orderedInt64Serde) Decode(b []byte) (int64, error) {
	if err := checkFixed("ordered int64", b, 8); err != nil {
		return 0, err
	}
	return readOrdered(b), nil
}

// appendOrdered appends v so that unsigned byte comparison matches signed comparison:
// flipping the sign bit moves negatives below positives.
func appendOrdered(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// readOrdered reverses appendOrdered on the first 8 bytes of b.
func readOrdered(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

// Float64 returns the serde of float64 as its IEEE 754 bits, 8 bytes big-endian, as
// Kafka's DoubleSerializer. Every bit pattern round-trips, NaN payloads and -0 included.
func Float64() Serde[float64] { return float64Serde{} }

type float64Serde struct{}

func (float64Serde) Encode(v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(v)), nil
}

func (float64Serde) Decode(b []byte) (float64, error) {
	if err := checkFixed("float64", b, 8); err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// Bool returns the serde of bool as one byte, 1 for true and 0 for false, as Kafka's
// BooleanSerializer. Any other byte fails to decode rather than being read as true.
func Bool() Serde[bool] { return boolSerde{} }

type boolSerde struct{}

func (boolSerde) Encode(v bool) ([]byte, error) {
	if v {
		return []byte{1}, nil
	}
	return []byte{0}, nil
}

func (boolSerde) Decode(b []byte) (bool, error) {
	if err := checkFixed("bool", b, 1); err != nil {
		return false, err
	}
	switch b[0] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, decodeErr("bool: byte 0x%02x is neither 0 nor 1", b[0])
}

// checkFixed rejects null and any length but n for a fixed-width serde named what.
func checkFixed(what string, b []byte, n int) error {
	if b == nil {
		return nullErr(what)
	}
	if len(b) != n {
		return decodeErr("%s needs %d bytes, got %d", what, n, len(b))
	}
	return nil
}
