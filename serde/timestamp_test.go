package serde

import (
	"errors"
	"math"
	"testing"
)

func TestWithTimestampRoundTrip(t *testing.T) {
	cases := []struct {
		v    ValueAndTimestamp[string]
		want []byte
	}{
		{ValueAndTimestamp[string]{"v", 1}, []byte{0, 0, 0, 0, 0, 0, 0, 1, 'v'}},
		{ValueAndTimestamp[string]{"", 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{ValueAndTimestamp[string]{"ab", -1}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a', 'b'}},
		{ValueAndTimestamp[string]{"x", math.MaxInt64}, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'}},
		{ValueAndTimestamp[string]{"x", math.MinInt64}, []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 'x'}},
	}
	for _, c := range cases {
		roundTrip(t, WithTimestamp(String()), c.v, c.want)
	}
	roundTrip(t, WithTimestamp(Msgpack[order]()), ValueAndTimestamp[order]{order{ID: "o"}, 42}, nil)
}

func TestWithTimestampTombstones(t *testing.T) {
	s := WithTimestamp(Nullable(String()))
	b, err := s.Encode(ValueAndTimestamp[*string]{Value: nil, Timestamp: 5})
	if err != nil || b != nil {
		t.Fatalf("Encode of a null value = %x, %v; want a tombstone", b, err)
	}
	v, err := s.Decode(nil)
	if err != nil || v.Value != nil || v.Timestamp != 0 {
		t.Fatalf("Decode(nil) = %+v, %v", v, err)
	}
	wantDecodeErr(t, WithTimestamp(String()), nil)
}

func TestWithTimestampRejectsBadBytes(t *testing.T) {
	for _, b := range [][]byte{{}, {1, 2, 3, 4, 5, 6, 7}} {
		wantDecodeErr(t, WithTimestamp(String()), b)
	}
	wantDecodeErr(t, WithTimestamp(Int32()), []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0})
	_, err := WithTimestamp(Bool()).Decode([]byte{0, 0, 0, 0, 0, 0, 0, 1, 7})
	if !errors.Is(err, ErrDecode) {
		t.Fatalf("bad inner value: %v", err)
	}
}
