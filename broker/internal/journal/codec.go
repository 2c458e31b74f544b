package journal

import (
	"encoding/binary"
	"errors"
)

// ErrBadRecord reports a payload that passed its CRC but does not decode: not a torn
// write, so the log is not trusted.
var ErrBadRecord = errors.New("undecodable record")

// AppendString appends s with its length in front, as Decoder.Str reads it.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendBool appends v as one byte, as Decoder.Bool reads it.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// Decoder reads a record payload. The first failure sticks: later reads return zero
// values, and Err and Finish return ErrBadRecord.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a decoder of payload.
func NewDecoder(payload []byte) *Decoder {
	return &Decoder{b: payload}
}

// Fail marks the payload as bad, for a value that decodes but is not allowed.
func (d *Decoder) Fail() {
	if d.err == nil {
		d.err = ErrBadRecord
	}
	d.b = nil
}

// Err is ErrBadRecord once a read has failed.
func (d *Decoder) Err() error { return d.err }

// Rest returns what is left to read.
func (d *Decoder) Rest() []byte { return d.b }

// Finish returns the first failure, or ErrBadRecord when bytes are left over.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail()
	}
	return d.err
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if len(d.b) == 0 {
		d.Fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads a byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.Fail()
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Int32 reads a signed varint that must fit an int32.
func (d *Decoder) Int32() int32 {
	v := d.Varint()
	if int64(int32(v)) != v {
		d.Fail()
	}
	return int32(v)
}

// Int16 reads a signed varint that must fit an int16.
func (d *Decoder) Int16() int16 {
	v := d.Varint()
	if int64(int16(v)) != v {
		d.Fail()
	}
	return int16(v)
}

// Count reads a number of elements, which must not exceed the bytes left, as every
// element takes at least one; so a bad count cannot make the caller allocate much.
func (d *Decoder) Count() int {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.Fail()
		return 0
	}
	return int(n)
}

// Str reads a string written by AppendString.
func (d *Decoder) Str() string {
	n := d.Count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
