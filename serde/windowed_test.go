package serde

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var edgeTimes = []int64{math.MinInt64, -1 << 40, -1, 0, 1, 1 << 40, math.MaxInt64}

var edgeKeys = [][]byte{{}, {0}, {0, 0}, {0, 1}, {0, 0xff}, {1}, {1, 0}, {0xff}, {0xff, 0}, []byte("a"), []byte("ab"), []byte("a\x00b")}

func TestWindowedKeyRoundTrip(t *testing.T) {
	for _, k := range edgeKeys {
		for _, start := range edgeTimes {
			roundTrip(t, WindowedKey(Bytes()), Windowed[[]byte]{Key: k, Start: start, End: math.MaxInt64}, nil)
			for _, end := range edgeTimes {
				roundTrip(t, SessionKey(Bytes()), Windowed[[]byte]{Key: k, Start: start, End: end}, nil)
			}
		}
	}
	roundTrip(t, WindowedKey(String()), Windowed[string]{Key: "user-1", Start: 1000, End: math.MaxInt64},
		[]byte("user-1\x00\x01\x80\x00\x00\x00\x00\x00\x03\xe8"))
	roundTrip(t, SessionKey(Int32()), Windowed[int32]{Key: 0, Start: -1, End: 1},
		[]byte("\x00\xff\x00\xff\x00\xff\x00\xff\x00\x01\x7f\xff\xff\xff\xff\xff\xff\xff\x80\x00\x00\x00\x00\x00\x00\x01"))
	roundTrip(t, SessionKey(Msgpack[order]()), Windowed[order]{Key: order{ID: "o", Qty: 0}, Start: 3, End: 9}, nil)
}

func TestTimeWindowedKeyEnd(t *testing.T) {
	cases := []struct{ size, start, end int64 }{
		{100, 0, 100},
		{100, -100, 0},
		{100, math.MaxInt64 - 100, math.MaxInt64},
		{100, math.MaxInt64 - 99, math.MaxInt64}, // capped, not wrapped
		{0, 5, math.MaxInt64},                    // unknown size
		{-1, 5, math.MaxInt64},
	}
	for _, c := range cases {
		s := TimeWindowedKey(String(), c.size)
		b, err := s.Encode(Windowed[string]{Key: "k", Start: c.start, End: 12345})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := WindowedKey(String()).Encode(Windowed[string]{Key: "k", Start: c.start})
		if !bytes.Equal(b, plain) {
			t.Fatalf("TimeWindowedKey bytes %x differ from WindowedKey bytes %x", b, plain)
		}
		w, err := s.Decode(b)
		if err != nil || w.End != c.end || w.Start != c.start || w.Key != "k" {
			t.Fatalf("size %d start %d: Decode = %+v, %v; want End %d", c.size, c.start, w, err, c.end)
		}
	}
}

func TestWindowedKeyRejectsBadBytes(t *testing.T) {
	ok8 := []byte{0x80, 0, 0, 0, 0, 0, 0, 0}
	bad := []struct {
		name string
		b    []byte
	}{
		{"null", nil},
		{"empty", []byte{}},
		{"no terminator", []byte("key")},
		{"lone zero at the end", []byte("key\x00")},
		{"bad escape", append([]byte("k\x00\x02"), ok8...)},
		{"short time", []byte("k\x00\x01\x80\x00")},
		{"long time", append(append([]byte("k\x00\x01"), ok8...), 0)},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			wantDecodeErr(t, WindowedKey(String()), c.b)
			wantDecodeErr(t, SessionKey(String()), c.b)
			if c.b != nil {
				if _, _, err := SplitWindowedKey(c.b); !errors.Is(err, ErrDecode) {
					t.Fatalf("SplitWindowedKey: %v", err)
				}
			}
		})
	}
	// A window key is not a session key and the other way round.
	wk, _ := WindowedKey(String()).Encode(Windowed[string]{Key: "k"})
	sk, _ := SessionKey(String()).Encode(Windowed[string]{Key: "k"})
	wantDecodeErr(t, SessionKey(String()), wk)
	wantDecodeErr(t, WindowedKey(String()), sk)
	if _, _, _, err := SplitSessionKey(wk); !errors.Is(err, ErrDecode) {
		t.Fatalf("SplitSessionKey of a window key: %v", err)
	}
	// The key's own bytes are checked by the inner serde.
	wantDecodeErr(t, WindowedKey(Int32()), append([]byte("abc\x00\x01"), ok8...))
}

func TestWindowedKeyRejectsNullKey(t *testing.T) {
	_, err := WindowedKey(Bytes()).Encode(Windowed[[]byte]{Key: nil})
	if !errors.Is(err, ErrEncode) {
		t.Fatalf("Encode of a null key = %v, want ErrEncode", err)
	}
	_, err = SessionKey(Nullable(String())).Encode(Windowed[*string]{Key: nil})
	if !errors.Is(err, ErrEncode) {
		t.Fatalf("Encode of a null key = %v, want ErrEncode", err)
	}
}

// windowEntry is a decoded window key with its encoding.
type windowEntry struct {
	key        []byte
	start, end int64
	enc        []byte
}

// compareWindows is the order the encodings must have: key bytes, then start, then end.
func compareWindows(a, b windowEntry) int {
	return cmp.Or(bytes.Compare(a.key, b.key), cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
}

// randomWindows makes n session keys over a small alphabet rich in 0x00 and 0xff, so
// that keys are often prefixes of one another and contain the escape byte, with times
// drawn mostly from a narrow range plus the extremes, so that ties happen.
func randomWindows(rng *rand.Rand, n int) []windowEntry {
	alphabet := []byte{0x00, 0x00, 0x01, 0x02, 0xfe, 0xff, 'a'}
	randTime := func() int64 {
		switch rng.IntN(6) {
		case 0:
			return edgeTimes[rng.IntN(len(edgeTimes))]
		case 1:
			return rng.Int64() - rng.Int64()
		default:
			return rng.Int64N(7) - 3
		}
	}
	out := make([]windowEntry, n)
	for i := range out {
		key := make([]byte, rng.IntN(5))
		for j := range key {
			key[j] = alphabet[rng.IntN(len(alphabet))]
		}
		out[i] = windowEntry{key: key, start: randTime(), end: randTime()}
	}
	return out
}

func TestWindowedKeyOrdering(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, withEnd := range []bool{false, true} {
		s := WindowedKey(Bytes())
		if withEnd {
			s = SessionKey(Bytes())
		}
		for round := range 50 {
			entries := randomWindows(rng, 200)
			for i := range entries {
				if !withEnd {
					entries[i].end = 0
				}
				b, err := s.Encode(Windowed[[]byte]{Key: entries[i].key, Start: entries[i].start, End: entries[i].end})
				if err != nil {
					t.Fatal(err)
				}
				entries[i].enc = b
			}
			byBytes := slices.Clone(entries)
			slices.SortStableFunc(byBytes, func(a, b windowEntry) int { return bytes.Compare(a.enc, b.enc) })
			byFields := slices.Clone(entries)
			slices.SortStableFunc(byFields, compareWindows)
			for i := range byBytes {
				if compareWindows(byBytes[i], byFields[i]) != 0 {
					t.Fatalf("withEnd=%v round %d: position %d sorts %x/%d/%d by bytes but %x/%d/%d by fields",
						withEnd, round, i, byBytes[i].key, byBytes[i].start, byBytes[i].end,
						byFields[i].key, byFields[i].start, byFields[i].end)
				}
				if i > 0 && bytes.Equal(byBytes[i-1].enc, byBytes[i].enc) != (compareWindows(byBytes[i-1], byBytes[i]) == 0) {
					t.Fatalf("equal encodings must mean equal fields and back")
				}
			}
		}
	}
}

// TestWindowedKeyRange checks that the bounds hold exactly the windows of one key with
// Start in [from, to], for window and session keys, against random populations.
func TestWindowedKeyRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, withEnd := range []bool{false, true} {
		s := WindowedKey(Bytes())
		if withEnd {
			s = SessionKey(Bytes())
		}
		entries := randomWindows(rng, 2000)
		for i := range entries {
			entries[i].enc, _ = s.Encode(Windowed[[]byte]{Key: entries[i].key, Start: entries[i].start, End: entries[i].end})
		}
		bounds := append(slices.Clone(edgeTimes), -3, -2, 2, 3)
		for _, q := range randomWindows(rng, 100) {
			for _, from := range bounds {
				for _, to := range bounds {
					lo, hi := WindowedKeyRange(q.key, from, to)
					for _, e := range entries {
						in := bytes.Compare(lo, e.enc) <= 0 && bytes.Compare(e.enc, hi) < 0
						want := bytes.Equal(e.key, q.key) && from <= e.start && e.start <= to
						if in != want {
							t.Fatalf("withEnd=%v key %x [%d, %d]: entry %x/%d/%d in range = %v, want %v",
								withEnd, q.key, from, to, e.key, e.start, e.end, in, want)
						}
					}
				}
			}
		}
	}
}

func TestWindowedKeyPrefixAndSplit(t *testing.T) {
	for _, k := range edgeKeys {
		for _, start := range edgeTimes {
			wk, _ := WindowedKey(Bytes()).Encode(Windowed[[]byte]{Key: k, Start: start})
			sk, _ := SessionKey(Bytes()).Encode(Windowed[[]byte]{Key: k, Start: start, End: -start})
			p := WindowedKeyPrefix(k)
			if !bytes.HasPrefix(wk, p) || !bytes.HasPrefix(sk, p) {
				t.Fatalf("key %x: prefix %x does not start %x and %x", k, p, wk, sk)
			}
			for _, other := range edgeKeys {
				if !bytes.Equal(other, k) && bytes.HasPrefix(wk, WindowedKeyPrefix(other)) {
					t.Fatalf("prefix of key %x matches window of key %x", other, k)
				}
			}
			key, gotStart, err := SplitWindowedKey(wk)
			if err != nil || !bytes.Equal(key, k) || key == nil || gotStart != start {
				t.Fatalf("SplitWindowedKey(%x) = %x, %d, %v", wk, key, gotStart, err)
			}
			key, gotStart, gotEnd, err := SplitSessionKey(sk)
			if err != nil || !bytes.Equal(key, k) || gotStart != start || gotEnd != -start {
				t.Fatalf("SplitSessionKey(%x) = %x, %d, %d, %v", sk, key, gotStart, gotEnd, err)
			}
		}
	}
}
