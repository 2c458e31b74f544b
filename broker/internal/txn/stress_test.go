package txn

import (
	"fmt"
	"sync"
	"testing"
)

// Producers of many IDs run transactions at once while new producers fence some of
// them; every transaction ends exactly once, committed or aborted.
func TestConcurrentTransactions(t *testing.T) {
	e := newEnv(t, nil)
	const ids, rounds = 8, 30
	var wg sync.WaitGroup
	commits := make([]int, ids)
	for i := range ids {
		wg.Go(func() {
			id := fmt.Sprintf("p%d", i)
			for r := range rounds {
				pid, epoch := e.init(id)
				e.mustAdd(id, pid, epoch, tp("t", int32(r%10)))
				if code := e.addOffsets(3, id, pid, epoch, "g"); code != 0 {
					t.Errorf("%s: AddOffsetsToTxn %d", id, code)
					return
				}
				if r%4 == 3 {
					continue // left open: the next init aborts it
				}
				if code := e.end(3, id, pid, epoch, true); code != 0 {
					t.Errorf("%s: EndTxn %d", id, code)
					return
				}
				commits[i]++
			}
		})
	}
	wg.Wait()
	var markerCommits, markerAborts int
	for _, c := range e.markers.take() {
		if c.group != "" {
			continue
		}
		if c.commit {
			markerCommits++
		} else {
			markerAborts++
		}
	}
	wantCommits := 0
	for _, n := range commits {
		wantCommits += n
	}
	// The last round of each ID is committed (rounds-1 is 29: 29%4 != 3).
	if markerCommits != wantCommits || markerAborts != ids*rounds-wantCommits {
		t.Fatalf("%d commits and %d aborts written, want %d and %d", markerCommits, markerAborts, wantCommits, ids*rounds-wantCommits)
	}
}
