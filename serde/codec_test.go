package serde

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

type order struct {
	ID       string            `json:"id"`
	Qty      int               `json:"qty"`
	Price    float64           `json:"price"`
	Tags     []string          `json:"tags,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Note     *string           `json:"note"`
	Internal string            `json:"-"`
	Raw      []byte            `json:"raw,omitempty"`
}

func TestStructCodecsRoundTrip(t *testing.T) {
	note := "fragile"
	cases := []order{
		{},
		{ID: "o-1", Qty: 3, Price: 9.99},
		{ID: "", Qty: math.MinInt64, Price: -0.5, Tags: []string{"a", ""}, Note: &note},
		{ID: "世界\x00", Qty: math.MaxInt64, Price: math.MaxFloat64, Attrs: map[string]string{"k": "v", "": ""}, Raw: []byte{0, 1, 2}},
	}
	for _, v := range cases {
		roundTrip(t, JSON[order](), v, nil)
		roundTrip(t, Msgpack[order](), v, nil)
	}
	roundTrip(t, Msgpack[float64](), math.Inf(-1), nil)
	roundTrip(t, Msgpack[int64](), math.MinInt64, nil)
	roundTrip(t, Msgpack[string](), "", nil)
	roundTrip(t, Msgpack[[]int](), []int{-1, 0, 1 << 40}, nil)
	roundTrip(t, Msgpack[map[string]int](), map[string]int{"a": 1}, nil)
	roundTrip(t, JSON[map[string]any](), map[string]any{"a": 1.5, "b": []any{"x", nil}}, []byte(`{"a":1.5,"b":["x",null]}`))
}

func TestMsgpackFollowsJSONTags(t *testing.T) {
	type tagged struct {
		A string `json:"alpha"`
		B string `msgpack:"beta" json:"ignored"`
		C string `json:"-"`
	}
	b, err := Msgpack[tagged]().Encode(tagged{A: "1", B: "2", C: "3"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Msgpack[map[string]string]().Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"alpha": "1", "beta": "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %v, want %v: msgpack tag first, then json tag, and json:\"-\" skips", got, want)
	}
	roundTrip(t, Msgpack[tagged](), tagged{A: "1", B: "2"}, nil)
}

func TestMsgpackTime(t *testing.T) {
	// msgpack decodes times in the local zone, so compare instants, not structs.
	want := time.Unix(1700000000, 123)
	b, err := Msgpack[time.Time]().Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Msgpack[time.Time]().Decode(b)
	if err != nil || !got.Equal(want) {
		t.Fatalf("Decode = %v, %v; want %v", got, err, want)
	}
}

func TestMsgpackMapsEncodeDeterministically(t *testing.T) {
	m := map[string]string{}
	for i := range 64 {
		m[string(rune('a'+i%26))+string(rune('A'+i/26))] = "v"
	}
	first, _ := Msgpack[map[string]string]().Encode(m)
	for range 20 {
		b, _ := Msgpack[map[string]string]().Encode(m)
		if !bytes.Equal(b, first) {
			t.Fatal("equal maps encoded to different bytes")
		}
	}
}

func TestStructCodecsRejectBadBytes(t *testing.T) {
	good, _ := Msgpack[order]().Encode(order{ID: "o-1", Qty: 3})
	msgpackBad := [][]byte{
		nil,
		{},
		good[:len(good)-1],                      // truncated
		append(append([]byte{}, good...), 0xc0), // trailing nil
		{0xc1},                                  // never-used msgpack code
		{0x92, 0x01},                            // array of 2 with one element
		{0xdd, 0xff, 0xff, 0xff, 0xff},          // array claiming 4G elements
		{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},     // str claiming 4G bytes
		[]byte("not msgpack at all"),
	}
	for _, b := range msgpackBad {
		wantDecodeErr(t, Msgpack[order](), b)
	}
	wantDecodeErr(t, Msgpack[int32](), []byte{0xa1, 'x'}) // a string where an int is due
	jsonBad := [][]byte{nil, {}, []byte(`{"id":`), []byte(`{} {}`), []byte(`{"qty":"three"}`), []byte("\xff")}
	for _, b := range jsonBad {
		wantDecodeErr(t, JSON[order](), b)
	}
}

func TestStructCodecsDoNotMakeTombstones(t *testing.T) {
	b, err := JSON[*order]().Encode(nil)
	if err != nil || string(b) != "null" {
		t.Fatalf("JSON Encode(nil) = %q, %v; want the JSON null literal", b, err)
	}
	b, err = Msgpack[*order]().Encode(nil)
	if err != nil || !bytes.Equal(b, []byte{0xc0}) {
		t.Fatalf("Msgpack Encode(nil) = %x, %v; want the msgpack nil byte", b, err)
	}
}

func TestJSONEncodeErrors(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		if _, err := JSON[float64]().Encode(f); !errors.Is(err, ErrEncode) {
			t.Fatalf("JSON Encode(%v) = %v, want ErrEncode", f, err)
		}
	}
	if _, err := Msgpack[chan int]().Encode(make(chan int)); !errors.Is(err, ErrEncode) {
		t.Fatalf("Msgpack Encode(chan) = %v, want ErrEncode", err)
	}
}

func TestNullable(t *testing.T) {
	s := Nullable(Int64())
	b, err := s.Encode(nil)
	if err != nil || b != nil {
		t.Fatalf("Encode(nil) = %x, %v; want a tombstone", b, err)
	}
	v, err := s.Decode(nil)
	if err != nil || v != nil {
		t.Fatalf("Decode(nil) = %v, %v; want nil", v, err)
	}
	seven := int64(7)
	roundTrip(t, s, &seven, []byte{0, 0, 0, 0, 0, 0, 0, 7})
	wantDecodeErr(t, s, []byte{1})

	empty := ""
	roundTrip(t, Nullable(String()), &empty, []byte{})
	var nilSlice []byte
	b, _ = Nullable(Bytes()).Encode(&nilSlice)
	if b == nil {
		t.Fatal("a non-nil pointer became a tombstone")
	}
}
