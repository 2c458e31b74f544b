package journal

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestDecoderReadsWhatWasAppended(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = AppendBool(b, true)
	b = AppendBool(b, false)
	b = binary.AppendUvarint(b, math.MaxUint64)
	b = binary.AppendVarint(b, math.MinInt64)
	b = binary.AppendVarint(b, math.MinInt32)
	b = binary.AppendVarint(b, math.MaxInt16)
	b = AppendString(b, "héllo")
	b = AppendString(b, "")
	b = binary.AppendUvarint(b, 2)
	b = append(b, 'x', 'y')
	d := NewDecoder(b)
	if v := d.Byte(); v != 7 {
		t.Errorf("Byte %d", v)
	}
	if v1, v2 := d.Bool(), d.Bool(); !v1 || v2 {
		t.Errorf("Bool %v %v", v1, v2)
	}
	if v := d.Uvarint(); v != math.MaxUint64 {
		t.Errorf("Uvarint %d", v)
	}
	if v := d.Varint(); v != math.MinInt64 {
		t.Errorf("Varint %d", v)
	}
	if v := d.Int32(); v != math.MinInt32 {
		t.Errorf("Int32 %d", v)
	}
	if v := d.Int16(); v != math.MaxInt16 {
		t.Errorf("Int16 %d", v)
	}
	if v1, v2 := d.Str(), d.Str(); v1 != "héllo" || v2 != "" {
		t.Errorf("Str %q %q", v1, v2)
	}
	if n := d.Count(); n != 2 || string(d.Rest()) != "xy" {
		t.Errorf("Count %d, rest %q", n, d.Rest())
	}
	if err := d.Finish(); !errors.Is(err, ErrBadRecord) {
		t.Errorf("Finish with 2 bytes left: %v", err)
	}
}

func TestDecoderFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		read  func(*Decoder)
		after string // Rest after the failure, always empty
	}{
		{"byte of nothing", nil, func(d *Decoder) { d.Byte() }, ""},
		{"bool 2", []byte{2}, func(d *Decoder) { d.Bool() }, ""},
		{"bool of nothing", nil, func(d *Decoder) { d.Bool() }, ""},
		{"truncated uvarint", []byte{0x80}, func(d *Decoder) { d.Uvarint() }, ""},
		{"truncated varint", []byte{0xff}, func(d *Decoder) { d.Varint() }, ""},
		{"int32 overflow", binary.AppendVarint(nil, math.MaxInt32+1), func(d *Decoder) { d.Int32() }, ""},
		{"int16 overflow", binary.AppendVarint(nil, math.MinInt16-1), func(d *Decoder) { d.Int16() }, ""},
		{"count past the end", []byte{3, 'a', 'b'}, func(d *Decoder) { d.Count() }, ""},
		{"huge count", binary.AppendUvarint(nil, math.MaxUint64), func(d *Decoder) {
			if n := d.Count(); n != 0 {
				panic(n)
			}
		}, ""},
		{"string past the end", []byte{3, 'a', 'b'}, func(d *Decoder) { d.Str() }, ""},
		{"refused value", []byte{1}, func(d *Decoder) { d.Fail() }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.data)
			tc.read(d)
			if !errors.Is(d.Err(), ErrBadRecord) || string(d.Rest()) != tc.after {
				t.Fatalf("err %v, rest %q", d.Err(), d.Rest())
			}
			// The failure sticks: later reads give zero values and Finish reports it.
			if d.Byte() != 0 || d.Str() != "" || d.Varint() != 0 || !errors.Is(d.Finish(), ErrBadRecord) {
				t.Fatal("a read after the failure did not fail")
			}
		})
	}
}
