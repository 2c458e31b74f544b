package broker

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBodyReuse: a handled produce body is reused by the next large request, so that
// producers do not make garbage at the rate they send bytes; other bodies, whose
// decoded fields may still point into them, never are.
func TestBodyReuse(t *testing.T) {
	body := func(key int16, size int) []byte {
		b := bytes.Repeat([]byte{7}, size)
		binary.BigEndian.PutUint16(b, uint16(key))
		return b
	}
	const size = 4 * bodyChunk
	for _, tc := range []struct {
		name  string
		key   int16
		reuse bool
	}{
		{"produce", kmsg.Produce.Int16(), true},
		{"join group", kmsg.JoinGroup.Int16(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The race detector's sync.Pool drops some puts at random: try a few times.
			reusedOnce := false
			for range 20 {
				for bodyPool.Get() != nil { // start from an empty pool
				}
				first, err := readBody(bytes.NewReader(body(tc.key, size)), size)
				if err != nil {
					t.Fatal(err)
				}
				releaseBody(first)
				next, err := readBody(bytes.NewReader(body(tc.key, size-1)), size-1)
				if err != nil {
					t.Fatal(err)
				}
				if len(next) != size-1 || next[size-2] != 7 {
					t.Fatalf("read %d bytes, last %d", len(next), next[len(next)-1])
				}
				reusedOnce = reusedOnce || &next[0] == &first[0]
			}
			if reusedOnce != tc.reuse {
				t.Fatalf("body reused: %v, want %v", reusedOnce, tc.reuse)
			}
		})
	}
}
