package serde

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// nested builds a msgpack value nested depth levels deep, each level an array or a map
// whose last item is the next level, after every kind of scalar, so that a walker that
// misreads any length closes a level early and counts the depth wrong.
func nested(depth int) any {
	scalars := []any{
		nil, true, false, 1, -1, 200, -200, 70000, -70000, int64(math.MaxInt64), uint64(math.MaxUint64),
		float32(1.5), 2.5, "", "short", strings.Repeat("s", 40), strings.Repeat("m", 300), strings.Repeat("l", 70000),
		[]byte{}, []byte("bin"), bytes.Repeat([]byte{1}, 300), bytes.Repeat([]byte{2}, 70000),
		time.Unix(1, 0), time.Unix(1<<40, 5), []any{}, map[string]any{}, -100,
		// Ext forms the types above do not produce: fixext 1, 2, 16, ext16, ext32 of type 9.
		msgpack.RawMessage{0xd4, 9, 0}, msgpack.RawMessage{0xd5, 9, 0, 0},
		msgpack.RawMessage(append([]byte{0xd8, 9}, make([]byte, 16)...)),
		msgpack.RawMessage(append([]byte{0xc8, 1, 44, 9}, make([]byte, 300)...)),
		msgpack.RawMessage(append([]byte{0xc9, 0, 1, 17, 112, 9}, make([]byte, 70000)...)),
	}
	var v any = "leaf"
	for i := range depth {
		if i%2 == 0 {
			v = append(append([]any{}, scalars...), v)
		} else {
			v = map[string]any{"a": scalars, "b": scalars[17], "z": v} // sorted keys: z is last
		}
	}
	return v
}

func TestCheckMsgpackDepth(t *testing.T) {
	for _, depth := range []int{1, 2, 3, 4, 9} {
		b, err := Msgpack[any]().Encode(nested(depth))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMsgpackShape(b, depth); err != nil {
			t.Fatalf("depth %d within limit %d: %v", depth, depth, err)
		}
		if err := checkMsgpackShape(b, depth-1); !errors.Is(err, ErrDecode) {
			t.Fatalf("depth %d over limit %d: %v", depth, depth-1, err)
		}
	}
}

// TestMsgpackRejectsHugeLengths feeds lengths the input cannot back; unchecked, the
// decoder would allocate them whole.
func TestMsgpackRejectsHugeLengths(t *testing.T) {
	cases := [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},       // array32 of 4G items
		{0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0}, // map32 of 2G pairs
		{0xdc, 0x00, 0x03, 0xc0, 0xc0},             // array16 of 3 in 2 bytes
		{0x92, 0x9f, 0xc0},                         // fixarray of 15 inside an array
		{0x92, 0x93, 0xc0, 0xc0, 0xc0},             // siblings fit alone, not together
		{0xc6, 0xff, 0xff, 0xff, 0xff, 'a'},        // bin32 of 4 GB
		{0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'},        // str32 of 4 GB
		{0xc9, 0xff, 0xff, 0xff, 0xff, 0xff, 'a'},  // ext32 of 4 GB
		{0x81, 0xa3, 'r', 'a', 'w', 0xc6, 0x7f, 0xff, 0xff, 0xff},
		{0xc1},       // never used
		{0x92, 0xc0}, // truncated
		{},
	}
	for _, b := range cases {
		if err := checkMsgpackShape(b, maxMsgpackDepth); !errors.Is(err, ErrDecode) {
			t.Fatalf("checkMsgpackShape(%x) = %v", b, err)
		}
		wantDecodeErr(t, Msgpack[any](), b)
		wantDecodeErr(t, Msgpack[[]any](), b)
		wantDecodeErr(t, Msgpack[map[string]any](), b)
		wantDecodeErr(t, Msgpack[[]byte](), b)
		wantDecodeErr(t, Msgpack[order](), b)
	}
	for _, b := range [][]byte{{0x92, 0x92, 0xc0, 0xc0, 0xc0}, {0xc4, 0x01, 'a'}, {0xc0}} {
		if err := checkMsgpackShape(b, maxMsgpackDepth); err != nil {
			t.Fatalf("checkMsgpackShape(%x) = %v, want nil", b, err)
		}
	}
}

func TestMsgpackRejectsDeepNesting(t *testing.T) {
	// 0x91 is an array of one element; 4 MB of them overflowed the stack before the
	// depth check.
	deep := append(bytes.Repeat([]byte{0x91}, 4<<20), 0xc0)
	wantDecodeErr(t, Msgpack[any](), deep)
	wantDecodeErr(t, Msgpack[order](), deep)
	ok := append(bytes.Repeat([]byte{0x91}, maxMsgpackDepth), 0xc0)
	ok = append(ok, bytes.Repeat([]byte{0xc0}, 10)...) // long enough to be walked; trailing bytes
	wantDecodeErr(t, Msgpack[any](), ok)
	if _, err := Msgpack[any]().Decode(ok[:maxMsgpackDepth+1]); err != nil {
		t.Fatalf("nesting at the limit: %v", err)
	}
}
