package dsl

import (
	"errors"
	"testing"

	"github.com/eddy-io/eddy/serde"
)

// TestChangeSerde checks the encoding of table changes on a table grouping's
// repartition topic: every combination of old and new round-trips, and bad bytes are
// decode errors, not panics.
func TestChangeSerde(t *testing.T) {
	s := changeSerde[string]{serde.String()}
	a, b, empty := "old", "new", ""
	for _, c := range []change[string]{{old: &a}, {new: &b}, {old: &a, new: &b}, {old: &empty, new: &empty}} {
		enc, err := s.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		same := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
		if !same(got.old, c.old) || !same(got.new, c.new) {
			t.Errorf("%+v round-tripped to %+v", c, got)
		}
	}
	for _, bad := range [][]byte{nil, {}, {0}, {4}, {3}, {3, 0, 0, 0}, {3, 0, 0, 0, 9, 'x'}} {
		if _, err := s.Decode(bad); !errors.Is(err, serde.ErrDecode) {
			t.Errorf("Decode(%v) error %v, want ErrDecode", bad, err)
		}
	}
}
