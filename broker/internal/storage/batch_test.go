package storage

import (
	"bytes"
	"errors"
	"testing"
)

func TestSplitBatches(t *testing.T) {
	a, b := recordsBatch(t, 3, 10, 20), recordsBatch(t, 1, 20, 5)
	flipped := bytes.Clone(a)
	flipped[len(flipped)-1] ^= 1
	badMagic := bytes.Clone(a)
	badMagic[offMagic] = 1
	tests := []struct {
		name    string
		data    []byte
		want    int
		wantErr bool
	}{
		{"empty", nil, 0, false},
		{"one", a, 1, false},
		{"two", append(bytes.Clone(a), b...), 2, false},
		{"truncated", a[:len(a)-1], 0, true},
		{"trailing bytes", append(bytes.Clone(a), 1, 2, 3), 0, true},
		{"crc", flipped, 0, true},
		{"magic", badMagic, 0, true},
		{"short header", a[:20], 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitBatches(tt.data)
			if tt.wantErr {
				if !errors.Is(err, ErrCorruptBatch) {
					t.Fatalf("err = %v, want ErrCorruptBatch", err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d batches, %v; want %d", len(got), err, tt.want)
			}
			if len(got) == 2 && (!bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || cap(got[0]) != len(a)) {
				t.Fatal("batches not split at their boundaries")
			}
		})
	}
}

func FuzzSplitBatches(f *testing.F) {
	f.Add(recordsBatch(f, 2, 1, 10))
	f.Add(append(recordsBatch(f, 1, 1, 0), recordsBatch(f, 3, 5, 2)...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, err := SplitBatches(data)
		if err != nil {
			return
		}
		n := 0
		for _, b := range bs {
			if checkBatch(b) != nil {
				t.Fatal("returned a batch that fails its own check")
			}
			n += len(b)
		}
		if n != len(data) {
			t.Fatalf("batches cover %d of %d bytes", n, len(data))
		}
	})
}
