package serde

import (
	"bytes"
	"fmt"
	"math"
)

// Windowed is a key with the window it belongs to, [Start, End) in milliseconds since
// the epoch. Session windows use End as the time of the session's last record.
type Windowed[K any] struct {
	// Key is the record key.
	Key K
	// Start is the window's first millisecond, inclusive.
	Start int64
	// End is the window's end: exclusive for time windows, the last record's time for
	// sessions.
	End int64
}

// The key part of a windowed key is the encoded key with each 0x00 byte written as
// 0x00 0xFF, followed by the terminator 0x00 0x01.
const (
	escByte  = 0x00
	escZero  = 0xFF // after escByte: a literal 0x00 of the key
	escEnd   = 0x01 // after escByte: the end of the key
	timeSize = 8
)

// WindowedKey returns the serde of a key in a time window (tumbling, hopping, sliding),
// for window stores. Only Key and Start are encoded, since a window store's windows all
// have one size; Decode sets End to math.MaxInt64, meaning unknown, as Kafka's
// TimeWindowedDeserializer does without a window size. TimeWindowedKey fills End in.
//
// Layout:
//
//	escaped(inner.Encode(Key)) 0x00 0x01 | Start as OrderedInt64 (8 bytes)
//
// where escaped writes each 0x00 of the key as 0x00 0xFF. Why byte order is (key bytes,
// Start) order: compare two encodings a and b at the first byte where their raw keys
// differ or one raw key ends. Up to there the escaped bytes are identical. If the raw
// keys differ there with bytes x < y, the escaped bytes compare the same way (0x00 < y
// for x = 0 escaped as 0x00 0xFF, x < y otherwise). If raw key a ends there while b goes
// on, a has its terminator 0x00 0x01 where b has either a byte y ≥ 0x01 (so 0x00 < y) or
// an escaped zero 0x00 0xFF (so 0x01 < 0xFF): a shorter key sorts first, as in byte
// order. If the raw keys are equal, the terminators match and the times decide; an
// OrderedInt64 sorts in numeric order, negatives included. A plain length prefix would
// sort by length first, and an unterminated key would let the time bytes of "a" compare
// against the key bytes of "ab".
//
// The key must not be null: an inner serde that encodes Key to nil bytes makes Encode
// fail with ErrEncode.
func WindowedKey[K any](inner Serde[K]) Serde[Windowed[K]] {
	return windowedSerde[K]{inner: inner}
}

// TimeWindowedKey is WindowedKey for windows of a known size in milliseconds: Decode
// sets End to Start + size (capped at math.MaxInt64). The bytes are WindowedKey's. A
// size below 1 leaves End unknown, as WindowedKey does.
func TimeWindowedKey[K any](inner Serde[K], size int64) Serde[Windowed[K]] {
	return windowedSerde[K]{inner: inner, size: size}
}

// SessionKey returns the serde of a key in a session window, for session stores: the
// WindowedKey layout followed by End as OrderedInt64, so encodings sort by key bytes,
// then Start, then End, and a session of a key is found by scanning from its key's
// prefix. The key must not be null.
func SessionKey[K any](inner Serde[K]) Serde[Windowed[K]] {
	return windowedSerde[K]{inner: inner, withEnd: true}
}

type windowedSerde[K any] struct {
	inner   Serde[K]
	withEnd bool  // session layout: End is encoded
	size    int64 // time windows: End = Start + size on decode when size > 0
}

func (s windowedSerde[K]) Encode(w Windowed[K]) ([]byte, error) {
	key, err := s.inner.Encode(w.Key)
	if err != nil {
		return nil, fmt.Errorf("windowed key: %w", err)
	}
	if key == nil {
		return nil, fmt.Errorf("%w: windowed key: the key is null", ErrEncode)
	}
	n := 2 * timeSize
	if !s.withEnd {
		n = timeSize
	}
	b := appendKeyPrefix(make([]byte, 0, len(key)+2+bytes.Count(key, []byte{escByte})+n), key)
	b = appendOrdered(b, w.Start)
	if s.withEnd {
		b = appendOrdered(b, w.End)
	}
	return b, nil
}

func (s windowedSerde[K]) Decode(b []byte) (Windowed[K], error) {
	var w Windowed[K]
	if b == nil {
		return w, nullErr("windowed key")
	}
	key, times, err := splitKey(b)
	if err != nil {
		return w, err
	}
	want := timeSize
	if s.withEnd {
		want = 2 * timeSize
	}
	if len(times) != want {
		return w, decodeErr("windowed key: %d bytes after the key, want %d", len(times), want)
	}
	w.Start = readOrdered(times)
	switch {
	case s.withEnd:
		w.End = readOrdered(times[timeSize:])
	case s.size > 0 && w.Start <= math.MaxInt64-s.size:
		w.End = w.Start + s.size
	default:
		w.End = math.MaxInt64
	}
	if w.Key, err = s.inner.Decode(key); err != nil {
		return Windowed[K]{}, fmt.Errorf("windowed key: %w", err)
	}
	return w, nil
}

// appendKeyPrefix appends the escaped key and its terminator to dst.
func appendKeyPrefix(dst, key []byte) []byte {
	for {
		i := bytes.IndexByte(key, escByte)
		if i < 0 {
			break
		}
		dst = append(dst, key[:i+1]...)
		dst = append(dst, escZero)
		key = key[i+1:]
	}
	dst = append(dst, key...)
	return append(dst, escByte, escEnd)
}

// splitKey unescapes the key at the head of a windowed or session key and returns it,
// as new non-nil bytes, with the bytes after its terminator.
func splitKey(b []byte) (key, rest []byte, err error) {
	key = make([]byte, 0, len(b))
	for {
		i := bytes.IndexByte(b, escByte)
		if i < 0 || i+1 == len(b) {
			return nil, nil, decodeErr("windowed key: no key terminator")
		}
		key = append(key, b[:i]...)
		switch b[i+1] {
		case escZero:
			key = append(key, escByte)
			b = b[i+2:]
		case escEnd:
			return key, b[i+2:], nil
		default:
			return nil, nil, decodeErr("windowed key: bad escape 0x00 0x%02x", b[i+1])
		}
	}
}

// WindowedKeyPrefix returns the bytes that every WindowedKey and SessionKey encoding of
// the key whose inner encoding is encodedKey starts with, and that no encoding of another
// key starts with, so a prefix scan with it finds all windows of exactly that key.
func WindowedKeyPrefix(encodedKey []byte) []byte {
	return appendKeyPrefix(nil, encodedKey)
}

// WindowedKeyRange returns the byte bounds [lo, hi) holding exactly the WindowedKey and
// SessionKey encodings of the key encodedKey whose Start is in [from, to], both
// inclusive; lo == hi when from > to. For a scan over the keys from k1 to k2, take lo of
// WindowedKeyRange(k1, from, math.MaxInt64) and hi of WindowedKeyRange(k2,
// math.MinInt64, to), and filter Start of what lies between, since other keys' windows
// interleave there.
func WindowedKeyRange(encodedKey []byte, from, to int64) (lo, hi []byte) {
	prefix := WindowedKeyPrefix(encodedKey)
	lo = appendOrdered(prefix[:len(prefix):len(prefix)], from)
	switch {
	case from > to:
		return lo, lo
	case to == math.MaxInt64:
		// No Start follows MaxInt64: the bound is the smallest bytes above the whole
		// prefix, the terminator 0x00 0x01 raised to 0x00 0x02.
		hi = append([]byte{}, prefix...)
		hi[len(hi)-1]++
	default:
		// Start = to+1 sorts after every encoding with Start = to, ends included.
		hi = appendOrdered(prefix, to+1)
	}
	return lo, hi
}

// SplitWindowedKey splits a WindowedKey encoding into the inner encoding of its key (new
// bytes) and its Start, without decoding the key.
func SplitWindowedKey(b []byte) (encodedKey []byte, start int64, err error) {
	key, times, err := splitKey(b)
	if err != nil {
		return nil, 0, err
	}
	if len(times) != timeSize {
		return nil, 0, decodeErr("windowed key: %d bytes after the key, want %d", len(times), timeSize)
	}
	return key, readOrdered(times), nil
}

// SplitSessionKey splits a SessionKey encoding into the inner encoding of its key (new
// bytes), its Start and its End, without decoding the key.
func SplitSessionKey(b []byte) (encodedKey []byte, start, end int64, err error) {
	key, times, err := splitKey(b)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(times) != 2*timeSize {
		return nil, 0, 0, decodeErr("session key: %d bytes after the key, want %d", len(times), 2*timeSize)
	}
	return key, readOrdered(times), readOrdered(times[timeSize:]), nil
}
