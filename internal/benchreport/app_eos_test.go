package main

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEOSSums checks the expected sums against the records themselves, decoded as the
// job decodes them.
func TestEOSSums(t *testing.T) {
	const n = 25_000
	got := map[string]int64{}
	for i := range n {
		k, v := eosRecord(i)
		if len(v) != 8 {
			t.Fatalf("record %d: %d B value", i, len(v))
		}
		got[string(k)] += int64(binary.BigEndian.Uint64(v))
	}
	want := eosSums(n)
	if len(got) != eosKeys || len(want) != eosKeys {
		t.Fatalf("%d accounts in the records, %d expected; want %d", len(got), len(want), eosKeys)
	}
	for k, s := range got {
		if want[k] != s {
			t.Fatalf("account %s: records sum to %d, expected %d", k, s, want[k])
		}
	}
	for i := range eosWarmKeys {
		if k, _ := eosWarmRecord(i); !isWarmKey(k) || want[string(k)] != 0 {
			t.Fatalf("warm-up key %q is not apart from the accounts", k)
		}
	}
}

// TestSumReaderRejects checks that output the job must not write fails the run: a sum
// above the final one (input counted twice), an unknown account, a bad value.
func TestSumReaderRejects(t *testing.T) {
	sum := func(k string, v int64) *kgo.Record {
		return &kgo.Record{Key: []byte(k), Value: binary.BigEndian.AppendUint64(nil, uint64(v))}
	}
	for _, tc := range []struct {
		name string
		recs []*kgo.Record
		ok   bool
	}{
		{"complete", []*kgo.Record{sum("a", 2), sum("a", 5), sum("b", 1)}, true},
		{"counted twice", []*kgo.Record{sum("a", 2), sum("a", 5), sum("a", 7)}, false},
		{"unknown account", []*kgo.Record{sum("c", 1)}, false},
		{"bad value", []*kgo.Record{{Key: []byte("a"), Value: []byte("x")}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &sumReader{want: map[string]int64{"a": 5, "b": 1}, records: 3, sums: map[string]int64{}}
			var err error
			for _, rec := range tc.recs {
				if err = r.add(rec, time.Now()); err != nil {
					break
				}
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && r.keysReached != len(r.want) {
				t.Fatalf("%d accounts reached, want %d", r.keysReached, len(r.want))
			}
		})
	}
}

// TestEOSSectionSmall runs the section once on small inputs, the broker in a child
// process (this test binary): both guarantees must finish with correct output and the
// report must carry both tables.
func TestEOSSectionSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and eddy applications")
	}
	defer func(records, rate int, d time.Duration, runs int) {
		eosRecords, eosRate, eosDuration, *eosRuns = records, rate, d, runs
	}(eosRecords, eosRate, eosDuration, *eosRuns)
	eosRecords, eosRate, eosDuration, *eosRuns = 5_000, 1_000, time.Second, 1

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	md, err := runEOSSection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **exactly-once / at-least-once** |", "Goal: exactly-once at least 0.85x", "| exactly-once | 100ms |", "| at-least-once | 30s |", "p99 (ms)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
