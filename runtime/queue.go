package runtime

// partitionQueue buffers one input partition's records in offset order and knows the
// timestamp of its head, extracted lazily as Kafka's RecordQueue does, so that a
// skipped record never blocks the ones behind it.
type partitionQueue struct {
	tp     TopicPartition
	source rawSource
	node   *node

	recs []queued
	head int

	headTime      int64 // extracted timestamp of recs[head], valid when headKnown
	headKnown     bool
	partitionTime int64 // largest timestamp extracted from this partition
	nextOffset    int64 // last offset processed or skipped + 1; -1 before any
	emptySince    int64 // wall clock when the queue last ran dry (MaxTaskIdle)
	fetched       int64 // offset after the last record or marker fetched; -1 before any
	endOffset     int64 // end the last fetch reported (SetEndOffset), valid when endKnown
	endKnown      bool  // a fetch of the partition has reported its end
}

// queued is a record with the sequence number of its Add, which breaks timestamp ties
// between partitions in the order records arrived.
type queued struct {
	rec ConsumedRecord
	seq uint64
}

func (q *partitionQueue) len() int { return len(q.recs) - q.head }

func (q *partitionQueue) push(r ConsumedRecord, seq uint64) {
	if q.head > 0 && q.head == len(q.recs) {
		q.recs, q.head = q.recs[:0], 0
	}
	q.recs = append(q.recs, queued{rec: r, seq: seq})
}

// pop removes the head; its slot is cleared so the queue holds no stale bytes.
func (q *partitionQueue) pop() queued {
	r := q.recs[q.head]
	q.recs[q.head] = queued{}
	q.head++
	q.headKnown = false
	if q.head == len(q.recs) {
		q.recs, q.head = q.recs[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.recs) {
		n := copy(q.recs, q.recs[q.head:])
		clear(q.recs[n:])
		q.recs, q.head = q.recs[:n], 0
	}
	return r
}
