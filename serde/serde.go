package serde

import (
	"errors"
	"fmt"
)

// Serde encodes and decodes values of T. A nil []byte is Kafka's null (a tombstone);
// see the package documentation for how each serde treats it.
type Serde[T any] interface {
	// Encode returns the bytes of v. The caller owns them.
	Encode(v T) ([]byte, error)
	// Decode returns the value held by b. It does not keep or alias b, and reports bad
	// bytes with an error wrapping ErrDecode, never with a panic.
	Decode(b []byte) (T, error)
}

// Funcs adapts two functions into a Serde, as http.HandlerFunc does for handlers. Both
// must be set.
type Funcs[T any] struct {
	// EncodeFunc implements Encode.
	EncodeFunc func(T) ([]byte, error)
	// DecodeFunc implements Decode; it must honour the Serde contract (no aliasing of
	// its input, errors wrapping ErrDecode).
	DecodeFunc func([]byte) (T, error)
}

// Encode calls f.EncodeFunc.
func (f Funcs[T]) Encode(v T) ([]byte, error) { return f.EncodeFunc(v) }

// Decode calls f.DecodeFunc.
func (f Funcs[T]) Decode(b []byte) (T, error) { return f.DecodeFunc(b) }

var (
	// ErrDecode is wrapped by every decode failure of this package's serdes: short or
	// long input, a bad length, invalid JSON or msgpack, null where a value is needed.
	ErrDecode = errors.New("serde: decode failed")
	// ErrEncode is wrapped by every encode failure of this package's serdes, such as a
	// value JSON cannot represent or a null key in a windowed key.
	ErrEncode = errors.New("serde: encode failed")
	// ErrNull is wrapped, together with ErrDecode, by the error of a serde that cannot
	// represent null and is asked to decode a tombstone (nil bytes).
	ErrNull = errors.New("null (tombstone)")
)

// IsNull reports whether b is Kafka's null, the tombstone value. Empty but non-nil bytes
// are a value, not null.
func IsNull(b []byte) bool { return b == nil }

// decodeErr builds an error wrapping ErrDecode.
func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrDecode}, args...)...)
}

// nullErr is the error of a serde named what that was given a tombstone.
func nullErr(what string) error {
	return fmt.Errorf("%w: %s: %w", ErrDecode, what, ErrNull)
}
