package state

import (
	"fmt"
	"testing"
)

// BenchmarkBadgerCommit measures one Commit after a few writes: the overlay spill plus
// the synced marker write, which is dominated by the fsync.
func BenchmarkBadgerCommit(b *testing.B) {
	for _, writes := range []int{0, 10, 1000} {
		b.Run(fmt.Sprintf("writes=%d", writes), func(b *testing.B) {
			p, err := NewBadgerProvider(b.TempDir(), BadgerOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			e, err := p.Open("0_0", "bench")
			if err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			b.ResetTimer()
			for i := range b.N {
				for k := range writes {
					if err := e.Put(fmt.Appendf(nil, "k%d", k), value); err != nil {
						b.Fatal(err)
					}
				}
				if err := e.Commit(map[string]int64{"c": int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBadgerRestore measures bulk restore through Restorer with 100-byte values
// in batches of 10,000 records.
func BenchmarkBadgerRestore(b *testing.B) {
	p, err := NewBadgerProvider(b.TempDir(), BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	e, err := p.Open("0_0", "bench")
	if err != nil {
		b.Fatal(err)
	}
	const batchSize = 10000
	value := make([]byte, 100)
	batch := make([]KV, batchSize)
	b.ResetTimer()
	for i := range b.N {
		for j := range batch {
			batch[j] = KV{Key: fmt.Appendf(nil, "key-%012d", i*batchSize+j), Value: value}
		}
		if err := e.(Restorer).Restore(batch, map[string]int64{"c": int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "records/s")
}
