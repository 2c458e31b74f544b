package serde

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

// roundTrip encodes v with s, checks the bytes against want when want is not nil,
// decodes them back and checks the result equals v.
func roundTrip[T any](t *testing.T, s Serde[T], v T, want []byte) {
	t.Helper()
	b, err := s.Encode(v)
	if err != nil {
		t.Fatalf("Encode(%v): %v", v, err)
	}
	if want != nil && !bytes.Equal(b, want) {
		t.Fatalf("Encode(%v) = %x, want %x", v, b, want)
	}
	got, err := s.Decode(b)
	if err != nil {
		t.Fatalf("Decode(%x): %v", b, err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("Decode(Encode(%v)) = %v", v, got)
	}
}

// wantDecodeErr checks that decoding b fails with an error wrapping ErrDecode, and
// ErrNull too when b is nil.
func wantDecodeErr[T any](t *testing.T, s Serde[T], b []byte) {
	t.Helper()
	v, err := s.Decode(b)
	if !errors.Is(err, ErrDecode) {
		t.Fatalf("Decode(%x) = %v, %v; want an ErrDecode error", b, v, err)
	}
	if b == nil && !errors.Is(err, ErrNull) {
		t.Fatalf("Decode(nil) error %v does not wrap ErrNull", err)
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, v := range []string{"", "a", "héllo, 世界", "\x00\xff", string(make([]byte, 1<<16))} {
		roundTrip(t, String(), v, []byte(v))
	}
	b, _ := String().Encode("")
	if b == nil {
		t.Fatal(`Encode("") is nil, a tombstone`)
	}
	wantDecodeErr(t, String(), nil)
}

func TestBytesKeepsNullAndEmptyApart(t *testing.T) {
	for _, v := range [][]byte{nil, {}, {0}, {1, 2, 3}} {
		roundTrip(t, Bytes(), v, v)
		b, _ := Bytes().Encode(v)
		if (b == nil) != (v == nil) {
			t.Fatalf("Encode(%#v) = %#v: null and empty mixed up", v, b)
		}
		got, _ := Bytes().Decode(v)
		if (got == nil) != (v == nil) {
			t.Fatalf("Decode(%#v) = %#v: null and empty mixed up", v, got)
		}
	}
}

func TestFixedWidthRoundTrip(t *testing.T) {
	int32s := []struct {
		v    int32
		want []byte
	}{
		{0, []byte{0, 0, 0, 0}},
		{1, []byte{0, 0, 0, 1}},
		{-1, []byte{0xff, 0xff, 0xff, 0xff}},
		{math.MaxInt32, []byte{0x7f, 0xff, 0xff, 0xff}},
		{math.MinInt32, []byte{0x80, 0, 0, 0}},
		{0x01020304, []byte{1, 2, 3, 4}},
	}
	for _, c := range int32s {
		roundTrip(t, Int32(), c.v, c.want)
	}
	int64s := []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{-1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{math.MaxInt64, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{math.MinInt64, []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{0x0102030405060708, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
	}
	for _, c := range int64s {
		roundTrip(t, Int64(), c.v, c.want)
	}
	ordered := []struct {
		v    int64
		want []byte
	}{
		{math.MinInt64, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{-1, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{0, []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{math.MaxInt64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, c := range ordered {
		roundTrip(t, OrderedInt64(), c.v, c.want)
	}
	bools := []struct {
		v    bool
		want []byte
	}{{false, []byte{0}}, {true, []byte{1}}}
	for _, c := range bools {
		roundTrip(t, Bool(), c.v, c.want)
	}
}

func TestFloat64KeepsEveryBitPattern(t *testing.T) {
	cases := []struct {
		v    float64
		want []byte
	}{
		{0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{math.Copysign(0, -1), []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{1, []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{-2.5, []byte{0xc0, 0x04, 0, 0, 0, 0, 0, 0}},
		{math.Inf(1), []byte{0x7f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{math.Inf(-1), []byte{0xff, 0xf0, 0, 0, 0, 0, 0, 0}},
		{math.MaxFloat64, nil},
		{math.SmallestNonzeroFloat64, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{math.NaN(), nil},
		{math.Float64frombits(0x7ff0_0000_0000_0abc), []byte{0x7f, 0xf0, 0, 0, 0, 0, 0x0a, 0xbc}}, // NaN with a payload
	}
	for _, c := range cases {
		b, err := Float64().Encode(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if c.want != nil && !bytes.Equal(b, c.want) {
			t.Fatalf("Encode(%v) = %x, want %x", c.v, b, c.want)
		}
		got, err := Float64().Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(got) != math.Float64bits(c.v) {
			t.Fatalf("round trip of %x gave %x", math.Float64bits(c.v), math.Float64bits(got))
		}
	}
}

func TestFixedWidthRejectsBadBytes(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		wantDecodeErr(t, Int32(), b)
	}
	for _, b := range [][]byte{nil, {}, {1, 2, 3, 4, 5, 6, 7}, make([]byte, 9)} {
		wantDecodeErr(t, Int64(), b)
		wantDecodeErr(t, OrderedInt64(), b)
		wantDecodeErr(t, Float64(), b)
	}
	for _, b := range [][]byte{nil, {}, {2}, {0xff}, {0, 0}} {
		wantDecodeErr(t, Bool(), b)
	}
}

func TestOrderedInt64SortsNumerically(t *testing.T) {
	vals := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 40, -2, -1, 0, 1, 2, 1 << 40, math.MaxInt64 - 1, math.MaxInt64}
	var prev []byte
	for _, v := range vals {
		b, _ := OrderedInt64().Encode(v)
		if prev != nil && bytes.Compare(prev, b) >= 0 {
			t.Fatalf("encoding of %d does not sort after its predecessor", v)
		}
		prev = b
	}
}

func TestFuncsAdapter(t *testing.T) {
	upper := Funcs[string]{
		EncodeFunc: func(s string) ([]byte, error) { return []byte(s + "!"), nil },
		DecodeFunc: func(b []byte) (string, error) {
			if len(b) == 0 || b[len(b)-1] != '!' {
				return "", decodeErr("no bang")
			}
			return string(b[:len(b)-1]), nil
		},
	}
	var s Serde[string] = upper
	roundTrip(t, s, "hi", []byte("hi!"))
	wantDecodeErr(t, s, []byte("hi"))
}

func TestIsNull(t *testing.T) {
	if !IsNull(nil) || IsNull([]byte{}) || IsNull([]byte{0}) {
		t.Fatal("IsNull must be true for nil only")
	}
}

// TestDecodeDoesNotAlias overwrites the input after Decode and checks the decoded value
// is unchanged, since stores reuse their buffers.
func TestDecodeDoesNotAlias(t *testing.T) {
	type rec struct{ B []byte }
	cases := []struct {
		name   string
		encode func() ([]byte, error)
		decode func([]byte) (any, error)
		want   any
	}{
		{"Bytes", func() ([]byte, error) { return Bytes().Encode([]byte("abc")) },
			func(b []byte) (any, error) { return Bytes().Decode(b) }, []byte("abc")},
		{"Msgpack", func() ([]byte, error) { return Msgpack[rec]().Encode(rec{B: []byte("abcdef")}) },
			func(b []byte) (any, error) { return Msgpack[rec]().Decode(b) }, rec{B: []byte("abcdef")}},
		{"JSON", func() ([]byte, error) { return JSON[rec]().Encode(rec{B: []byte("abcdef")}) },
			func(b []byte) (any, error) { return JSON[rec]().Decode(b) }, rec{B: []byte("abcdef")}},
		{"WindowedKey", func() ([]byte, error) {
			return WindowedKey(Bytes()).Encode(Windowed[[]byte]{Key: []byte("key"), Start: 5})
		}, func(b []byte) (any, error) { return WindowedKey(Bytes()).Decode(b) },
			Windowed[[]byte]{Key: []byte("key"), Start: 5, End: math.MaxInt64}},
		{"WithTimestamp", func() ([]byte, error) {
			return WithTimestamp(Bytes()).Encode(ValueAndTimestamp[[]byte]{Value: []byte("val"), Timestamp: 1})
		}, func(b []byte) (any, error) { return WithTimestamp(Bytes()).Decode(b) },
			ValueAndTimestamp[[]byte]{Value: []byte("val"), Timestamp: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.decode(b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range b {
				b[i] = 'X'
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decoded value changed to %#v when its input was overwritten", got)
			}
		})
	}
}
