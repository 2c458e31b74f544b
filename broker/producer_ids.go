package broker

import "sync"

// pidBlock is how many producer IDs are reserved durably at a time, so that handing one
// out rarely touches the disk while a restart never reuses an ID.
const pidBlock = 1000

// producerIDs allocates producer IDs that are unique across restarts.
type producerIDs struct {
	meta *metaStore
	mu   sync.Mutex
	next int64 // next ID to hand out
	end  int64 // first ID not yet reserved on disk
}

type pidState struct{ NextBlock int64 }

func openProducerIDs(meta *metaStore) (*producerIDs, error) {
	var st pidState
	if _, err := meta.load("producer-ids.json", &st); err != nil {
		return nil, err
	}
	return &producerIDs{meta: meta, next: st.NextBlock, end: st.NextBlock}, nil
}

func (p *producerIDs) allocate() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == p.end {
		if err := p.meta.save("producer-ids.json", pidState{NextBlock: p.end + pidBlock}); err != nil {
			return 0, err
		}
		p.end += pidBlock
	}
	id := p.next
	p.next++
	return id, nil
}
