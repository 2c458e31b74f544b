package serde

import "encoding/binary"

// maxMsgpackDepth bounds the nesting of arrays and maps Msgpack decodes. The msgpack
// decoder recurses once per level with no limit of its own, so a few megabytes of 0x91
// (array of one) would overflow the goroutine stack, a fatal error no recover catches.
// 10000 is the limit encoding/json applies.
const maxMsgpackDepth = 10000

// checkMsgpackShape walks the headers of the first msgpack value in b without decoding
// it, and fails unless the value is complete and fits in b, and its arrays and maps nest
// at most maxDepth deep. The msgpack decoder trusts the lengths it reads: decoding into
// an interface makes a slice of the claimed item count, and into a []byte a buffer of
// the claimed size, so five bytes could ask for 40 GB and crash the process with no
// error to return. After this walk every claimed length is backed by input bytes, so
// what the decoder allocates is bounded by a small multiple of len(b).
func checkMsgpackShape(b []byte, maxDepth int) error {
	var open []uint64  // items still to read in each enclosing array or map
	var pending uint64 // the sum of open
	for i := 0; i < len(b); {
		c := b[i]
		i++
		var items uint64 // items of a container that starts here
		var skip uint64  // bytes after the type code
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c <= 0x8f:
			items = 2 * uint64(c&0x0f)
		case c <= 0x9f:
			items = uint64(c & 0x0f)
		case c <= 0xbf:
			skip = uint64(c & 0x1f)
		default:
			var n uint64
			var ok bool
			switch c {
			case 0xc4, 0xd9: // bin8, str8
				n, ok = readLen(b[i:], 1)
				skip = 1 + n
			case 0xc5, 0xda: // bin16, str16
				n, ok = readLen(b[i:], 2)
				skip = 2 + n
			case 0xc6, 0xdb: // bin32, str32
				n, ok = readLen(b[i:], 4)
				skip = 4 + n
			case 0xc7: // ext8: length, type, data
				n, ok = readLen(b[i:], 1)
				skip = 2 + n
			case 0xc8:
				n, ok = readLen(b[i:], 2)
				skip = 3 + n
			case 0xc9:
				n, ok = readLen(b[i:], 4)
				skip = 5 + n
			case 0xca, 0xce, 0xd2: // 4-byte numbers
				skip, ok = 4, true
			case 0xcb, 0xcf, 0xd3: // 8-byte numbers
				skip, ok = 8, true
			case 0xcc, 0xd0:
				skip, ok = 1, true
			case 0xcd, 0xd1:
				skip, ok = 2, true
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 plus a type byte
				skip, ok = 1+1<<(c-0xd4), true
			case 0xdc:
				items, ok = readLen(b[i:], 2)
				skip = 2
			case 0xdd:
				items, ok = readLen(b[i:], 4)
				skip = 4
			case 0xde:
				items, ok = readLen(b[i:], 2)
				items, skip = 2*items, 2
			case 0xdf:
				items, ok = readLen(b[i:], 4)
				items, skip = 2*items, 4
			default: // 0xc1, never used
			}
			if !ok {
				return decodeErr("msgpack: truncated or unknown code 0x%02x at byte %d", c, i-1)
			}
		}
		if skip > uint64(len(b)-i) {
			return decodeErr("msgpack: %d bytes claimed at byte %d, %d left", skip, i-1, len(b)-i)
		}
		i += int(skip)
		if items > 0 {
			if len(open) == maxDepth {
				return decodeErr("msgpack: nested deeper than %d", maxDepth)
			}
			open = append(open, items)
			pending += items
			// Every item takes a byte, and each open container but the innermost
			// counts the container inside it, whose bytes are already counted.
			if pending-uint64(len(open)-1) > uint64(len(b)-i) {
				return decodeErr("msgpack: %d items claimed at byte %d, %d bytes left", items, i, len(b)-i)
			}
			continue
		}
		// A value ended: count it against its container, closing every container it
		// completes.
		for len(open) > 0 {
			open[len(open)-1]--
			pending--
			if open[len(open)-1] > 0 {
				break
			}
			open = open[:len(open)-1]
		}
		if len(open) == 0 {
			return nil
		}
	}
	return decodeErr("msgpack: truncated")
}

// readLen reads a big-endian length of size 1, 2 or 4 from the head of b.
func readLen(b []byte, size int) (uint64, bool) {
	if len(b) < size {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), true
	}
	return uint64(binary.BigEndian.Uint32(b)), true
}
