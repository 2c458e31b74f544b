package serde_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/eddy-io/eddy/serde"
)

func Example() {
	s := serde.Int64()
	b, _ := s.Encode(42)
	fmt.Printf("%x\n", b)
	v, _ := s.Decode(b)
	fmt.Println(v)

	// Bad bytes are an error wrapping ErrDecode, never a panic.
	_, err := s.Decode([]byte{1, 2, 3})
	fmt.Println(errors.Is(err, serde.ErrDecode))
	// Output:
	// 000000000000002a
	// 42
	// true
}

func ExampleFuncs() {
	// A serde of strings stored upper-case, from two plain functions.
	var upper serde.Serde[string] = serde.Funcs[string]{
		EncodeFunc: func(s string) ([]byte, error) { return bytes.ToUpper([]byte(s)), nil },
		DecodeFunc: func(b []byte) (string, error) { return string(b), nil },
	}
	b, _ := upper.Encode("eddy")
	fmt.Println(string(b))
	// Output: EDDY
}

func ExampleNullable() {
	s := serde.Nullable(serde.String())
	b, _ := s.Encode(nil)
	fmt.Println(serde.IsNull(b)) // a tombstone

	v, _ := s.Decode(nil)
	fmt.Println(v == nil)

	// A serde without Nullable refuses null instead of guessing a zero value.
	_, err := serde.String().Decode(nil)
	fmt.Println(errors.Is(err, serde.ErrNull))
	// Output:
	// true
	// true
	// true
}

type Order struct {
	ID  string  `json:"id"`
	Qty int     `json:"qty"`
	Fee float64 `json:"fee,omitempty"`
}

func ExampleJSON() {
	s := serde.JSON[Order]()
	b, _ := s.Encode(Order{ID: "o-1", Qty: 2})
	fmt.Println(string(b))
	o, _ := s.Decode([]byte(`{"id":"o-2","qty":5}`))
	fmt.Printf("%+v\n", o)
	// Output:
	// {"id":"o-1","qty":2}
	// {ID:o-2 Qty:5 Fee:0}
}

func ExampleMsgpack() {
	s := serde.Msgpack[Order]()
	b, _ := s.Encode(Order{ID: "o-1", Qty: 2})
	fmt.Printf("%d bytes, json tags as field names: %t\n", len(b), bytes.Contains(b, []byte("qty")))
	o, _ := s.Decode(b)
	fmt.Printf("%+v\n", o)
	// Output:
	// 13 bytes, json tags as field names: true
	// {ID:o-1 Qty:2 Fee:0}
}

func ExampleWindowedKey() {
	s := serde.WindowedKey(serde.String())
	a, _ := s.Encode(serde.Windowed[string]{Key: "user", Start: 60_000})
	b, _ := s.Encode(serde.Windowed[string]{Key: "user", Start: -60_000})
	c, _ := s.Encode(serde.Windowed[string]{Key: "user-2", Start: 0})
	// Byte order is key order, then start order, even for a key that is a prefix of
	// another and for negative times.
	fmt.Println(bytes.Compare(b, a), bytes.Compare(a, c))

	// All windows of "user" starting in [0, 60000] lie in [lo, hi).
	key, _ := serde.String().Encode("user")
	lo, hi := serde.WindowedKeyRange(key, 0, 60_000)
	fmt.Println(bytes.Compare(lo, a) <= 0 && bytes.Compare(a, hi) < 0, bytes.Compare(lo, b) <= 0)

	// The size of the window is not stored; TimeWindowedKey puts End back.
	w, _ := serde.TimeWindowedKey(serde.String(), 60_000).Decode(a)
	fmt.Printf("%+v\n", w)
	w, _ = s.Decode(a)
	fmt.Println(w.End == math.MaxInt64)
	// Output:
	// -1 -1
	// true false
	// {Key:user Start:60000 End:120000}
	// true
}

func ExampleWithTimestamp() {
	s := serde.WithTimestamp(serde.String())
	b, _ := s.Encode(serde.ValueAndTimestamp[string]{Value: "v", Timestamp: 1000})
	fmt.Printf("%x\n", b)
	// Output: 00000000000003e876
}
