package serde

import (
	"bytes"
	"errors"
	"testing"
)

// decoders are every serde of the package, each as a function that decodes b and, when
// the encoding is canonical (one value, one encoding), says whether encoding the result
// gives b back.
var decoders = map[string]func(b []byte) (err error, canonical bool){
	"String":        canonical(String()),
	"Bytes":         canonical(Bytes()),
	"Int32":         canonical(Int32()),
	"Int64":         canonical(Int64()),
	"OrderedInt64":  canonical(OrderedInt64()),
	"Float64":       canonical(Float64()),
	"Bool":          canonical(Bool()),
	"Nullable":      canonical(Nullable(Int64())),
	"WindowedKey":   canonical(WindowedKey(Bytes())),
	"SessionKey":    canonical(SessionKey(Bytes())),
	"WithTimestamp": canonical(WithTimestamp(Nullable(Bytes()))),
	"JSON":          decodeOnly(JSON[order]()),
	"JSONAny":       decodeOnly(JSON[any]()),
	"Msgpack":       decodeOnly(Msgpack[order]()),
	"MsgpackAny":    decodeOnly(Msgpack[any]()),
	"MsgpackWindow": decodeOnly(SessionKey(Msgpack[map[string][]int32]())),
	"SplitWindowedKey": func(b []byte) (error, bool) {
		_, _, err := SplitWindowedKey(b)
		return err, true
	},
	"SplitSessionKey": func(b []byte) (error, bool) {
		_, _, _, err := SplitSessionKey(b)
		return err, true
	},
}

func canonical[T any](s Serde[T]) func([]byte) (error, bool) {
	return func(b []byte) (error, bool) {
		v, err := s.Decode(b)
		if err != nil {
			return err, true
		}
		again, err := s.Encode(v)
		return err, err == nil && bytes.Equal(again, b) && (again == nil) == (b == nil)
	}
}

func decodeOnly[T any](s Serde[T]) func([]byte) (error, bool) {
	return func(b []byte) (error, bool) {
		_, err := s.Decode(b)
		return err, true
	}
}

// FuzzDecode feeds arbitrary bytes to every serde: each must return a value or an
// ErrDecode error, never panic, and canonical encodings must re-encode to the input.
// Run it with: go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./serde
func FuzzDecode(f *testing.F) {
	seeds := [][]byte{nil, {}, {0}, {1}, {0, 0, 0, 1}, {0x80, 0, 0, 0, 0, 0, 0, 0}, []byte(`{"id":"x","qty":1}`), []byte("null")}
	add := func(b []byte, err error) {
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	add(WindowedKey(String()).Encode(Windowed[string]{Key: "k\x00ey", Start: -5}))
	add(SessionKey(String()).Encode(Windowed[string]{Key: "", Start: 1, End: 2}))
	add(Msgpack[order]().Encode(order{ID: "o", Tags: []string{"t"}, Attrs: map[string]string{"a": "b"}}))
	add(Msgpack[any]().Encode([]any{map[string]any{"a": []any{int8(-3), "x", nil, 1.5, []byte("b")}}, uint16(300)}))
	add(WithTimestamp(String()).Encode(ValueAndTimestamp[string]{Value: "v", Timestamp: 9}))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, decode := range decoders {
			err, ok := decode(b)
			if err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("%s: Decode(%x) error %v does not wrap ErrDecode", name, b, err)
			}
			if !ok {
				t.Fatalf("%s: %x decodes but does not encode back to itself", name, b)
			}
		}
	})
}
