// Package serde turns typed values into the bytes that Kafka records and state stores
// hold, and back.
//
// A [Serde] is a pair of functions, Encode and Decode. The built-ins cover Kafka's own
// serdes byte for byte ([String], [Bytes], [Int32], [Int64], [Float64], [Bool]), so
// topics written by eddy can be read by Kafka Streams and the other way round, plus
// [JSON] and [Msgpack] for structs (Msgpack is the default for structs: smaller and
// faster than JSON). [Funcs] adapts two plain functions into a Serde.
//
// # Tombstones
//
// Kafka's null value, a nil []byte, is a tombstone: "this key is deleted". A Go value
// cannot be nil for every type, so null is never guessed into a zero value:
//
//   - [Bytes] maps a nil slice to nil bytes and back, so it carries null as is.
//   - [Nullable] wraps any Serde[T] into a Serde[*T] whose nil pointer is null.
//   - Every other built-in returns an error wrapping both [ErrNull] and [ErrDecode] when
//     asked to decode nil, and never encodes a value to nil: an empty string encodes to
//     empty, non-nil bytes, which are not a tombstone.
//
// Callers that read topics check [IsNull] before decoding, or decode with a Nullable
// serde.
//
// # Buffers
//
// Decode never keeps or aliases the bytes it is given, so a store may reuse its buffers
// as soon as Decode returns; Encode returns bytes the caller owns. Implementations of
// [Serde] outside this package must keep the same contract.
//
// # Windowed keys
//
// [WindowedKey] and [SessionKey] lay out a key and its window so that sorting the bytes
// sorts by key, then by window start (then end): see [WindowedKey] for the layout and the
// argument, and [WindowedKeyPrefix], [WindowedKeyRange], [SplitWindowedKey] and
// [SplitSessionKey] for range scans over them without decoding the key.
package serde
