package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"os"
	"time"
)

// CleanStats describes one Clean pass, for logs and the compaction benchmark.
// A pass that found nothing worth cleaning is the zero value.
type CleanStats struct {
	// Segments is the number of segments the pass cleaned; Rewritten those
	// it replaced (or deleted when nothing was left in them).
	Segments, Rewritten int
	// BytesRead counts segment bytes read: the dirty ones twice (once to map
	// keys, once to clean them). BytesWritten counts replacement segments.
	BytesRead, BytesWritten int64
	// RecordsRemoved counts records and markers dropped.
	RecordsRemoved int64
	// DirtyRatio is the dirty share of the cleanable bytes before the pass.
	DirtyRatio float64
	// Duration is the pass's wall time; BytesRead over it is the cleaner's
	// throughput.
	Duration time.Duration
}

// maxCleanKeys bounds the keys one pass maps (about 50 MiB of map); a dirty
// section with more is cleaned over several passes, a segment at a time.
const maxCleanKeys = 1 << 20

// Clean compacts the log once if it is worth it, as Kafka's log cleaner does,
// and is a no-op unless Config.Compact is set.
//
// The cleanable range is the closed segments wholly below the high watermark
// and the last stable offset; the active segment is never cleaned. Its dirty
// part starts at the cleaner checkpoint and stops before the first segment
// whose newest record is younger than MinCompactionLag. A pass runs when the
// dirty bytes are at least MinCleanableDirtyRatio of the cleanable bytes,
// when the oldest dirty batch is older than MaxCompactionLag, or when
// tombstones or markers of a clean segment have outlived DeleteRetention.
//
// A pass maps every key of the dirty part to its newest offset, then rewrites
// each segment of the cleanable range, oldest first, without:
//   - records whose key has a newer record in the dirty part;
//   - tombstones (keyed records with a null value) of a segment first cleaned
//     at least DeleteRetention ago (the rule Kafka used before KIP-534, with
//     the first clean time kept in the checkpoint instead of file times);
//   - records of aborted transactions;
//   - COMMIT markers whose transaction kept no batch in the log, under the
//     same DeleteRetention rule. ABORT markers stay: the aborted index points
//     at them and a read_committed client pops its aborted list on them.
//
// Offsets never change and the order of the kept records is kept. Records
// without a key are kept: the produce path refuses them on compacted topics,
// so only records written before the topic became compacted have none, and
// Kafka's cleaner would silently drop those. A batch whose records all go is
// dropped, unless it is its producer's newest data batch: then its header
// stays, empty, so that the producer state (sequence numbers) can still be
// rebuilt from the log, as Kafka keeps it.
//
// Each rewritten segment is written to a temporary file, fsynced and renamed
// over the old one while mu and segMu are held, so readers see either the old
// or the new file; a segment left empty (not the first) is deleted instead.
// Its indexes are deleted before and rewritten after the rename. A crash at
// any step leaves either file, which Open accepts as is: the temporary file
// is removed and missing indexes are rebuilt. The checkpoint is written last,
// after a directory fsync, so a pass cut short is simply done again.
//
// Clean runs beside Append and Read; concurrent Clean calls take turns. It
// stops at the next batch when ctx ends.
func (l *Log) Clean(ctx context.Context, now time.Time) (CleanStats, error) {
	start := time.Now()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.closed.Load() {
		return CleanStats{}, ErrClosed
	}
	cfg := l.cfg.Load()
	if !cfg.Compact {
		return CleanStats{}, nil
	}
	p, err := l.planClean(cfg, now)
	if p == nil || err != nil {
		return CleanStats{}, err
	}
	defer p.close()
	c := &cleaner{
		l:       l,
		cfg:     cfg,
		p:       p,
		nowMs:   now.UnixMilli(),
		seeds:   [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		keys:    map[[2]uint64]int64{},
		txnData: map[int64]bool{},
		stats:   CleanStats{DirtyRatio: p.ratio},
	}
	err = c.run(ctx)
	c.stats.Duration = time.Since(start)
	return c.stats, err
}

// cleanPlan is what a pass works on, fixed when it starts.
type cleanPlan struct {
	// segs are the closed segments of the cleanable range, oldest first;
	// files the cleaner's own handles on them, which stay readable if
	// retention deletes a segment meanwhile, and sizes their sizes.
	segs  []*segment
	files []*os.File
	sizes []int64
	// dirty is the index in segs of the first dirty segment.
	dirty int
	ckpt  cleanCheckpoint
	// lastBatch maps each producer to the last offset of its newest data
	// batch, the batch whose header a pass must keep.
	lastBatch map[int64]int64
	ratio     float64
}

func (p *cleanPlan) close() {
	for _, f := range p.files {
		f.Close()
	}
}

// planClean decides whether a pass is due and fixes its range; nil when not.
func (l *Log) planClean(cfg *Config, now time.Time) (*cleanPlan, error) {
	// Both only grow, so reading them before mu errs on the safe side.
	stable := l.LastStableOffset()
	ckpt := l.readCleanCheckpoint()
	nowMs := now.UnixMilli()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	limit := min(l.active.base, l.hw.Load(), stable)
	if ckpt.clean > l.active.base {
		// The log was cut back below the checkpoint: start over.
		ckpt = cleanCheckpoint{segs: map[int64]cleanedSeg{}}
	}
	closed := l.segs[:len(l.segs)-1]
	n, dirty := 0, -1
	var cleanBytes, dirtyBytes int64
	for i, s := range closed {
		if s.next > limit {
			break
		}
		if s.next > ckpt.clean {
			if cfg.MinCompactionLag > 0 && s.maxTs.Load() > nowMs-cfg.MinCompactionLag.Milliseconds() {
				break
			}
			if dirty < 0 {
				dirty = i
			}
			dirtyBytes += s.size.Load()
		} else {
			cleanBytes += s.size.Load()
		}
		n = i + 1
	}
	if dirty < 0 {
		dirty = n
	}
	p := &cleanPlan{dirty: dirty, ckpt: ckpt}
	if total := cleanBytes + dirtyBytes; total > 0 {
		p.ratio = float64(dirtyBytes) / float64(total)
	}
	due := dirtyBytes > 0 && (p.ratio >= cfg.MinCleanableDirtyRatio || l.pastMaxLag(cfg, closed[dirty:n], nowMs))
	for _, s := range closed[:dirty] {
		if e, ok := ckpt.segs[s.base]; ok && e.deletes && e.firstMs+cfg.DeleteRetention.Milliseconds() <= nowMs {
			due = true
		}
	}
	if !due {
		return nil, nil
	}
	for _, s := range closed[:n] {
		f, err := os.Open(s.path(extLog))
		if err != nil {
			p.close()
			return nil, fmt.Errorf("storage: open segment to clean: %w", err)
		}
		p.segs = append(p.segs, s)
		p.files = append(p.files, f)
		p.sizes = append(p.sizes, s.size.Load())
	}
	p.lastBatch = make(map[int64]int64, len(l.producers))
	for id, e := range l.producers {
		if e.n > 0 {
			p.lastBatch[id] = e.batches[e.n-1].lastOffset
		}
	}
	return p, nil
}

// pastMaxLag reports whether the first batch of the dirty segments is older
// than MaxCompactionLag (Kafka looks at the first batch's max timestamp too).
// mu is held.
func (l *Log) pastMaxLag(cfg *Config, dirty []*segment, nowMs int64) bool {
	if cfg.MaxCompactionLag <= 0 {
		return false
	}
	for _, s := range dirty {
		var hdr [headerLen]byte
		if s.size.Load() < headerLen {
			continue
		}
		if _, err := s.f.ReadAt(hdr[:], 0); err != nil {
			return false
		}
		return parseHeader(hdr[:]).maxTimestamp < nowMs-cfg.MaxCompactionLag.Milliseconds()
	}
	return false
}

// cleaner is the state of one pass.
type cleaner struct {
	l     *Log
	cfg   *Config
	p     *cleanPlan
	nowMs int64
	// keys maps a 128-bit hash of each key of the dirty part to its newest
	// offset there; a collision could only merge two keys, with odds of
	// about n²/2¹²⁹.
	seeds [2]maphash.Seed
	keys  map[[2]uint64]int64
	// aborted lists the aborted transactions of the range by producer.
	aborted map[int64][]AbortedTxn
	// txnData marks the producers whose current transaction has kept a
	// batch so far in the pass; its COMMIT marker must stay.
	txnData map[int64]bool
	stats   CleanStats
}

func (c *cleaner) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(c.seeds[0], key), maphash.Bytes(c.seeds[1], key)}
}

func (c *cleaner) run(ctx context.Context) error {
	p := c.p
	if len(p.segs) == 0 {
		return nil
	}
	last := p.segs[len(p.segs)-1]
	c.aborted = map[int64][]AbortedTxn{}
	for _, a := range c.l.abortedBetween(p.segs[0].base, last.next) {
		c.aborted[a.ProducerID] = append(c.aborted[a.ProducerID], a)
	}
	end, err := c.mapKeys(ctx)
	if err != nil {
		return err
	}
	next := cleanCheckpoint{clean: p.ckpt.clean, segs: map[int64]cleanedSeg{}}
	for i, s := range p.segs[:end] {
		prev, wasClean := p.ckpt.segs[s.base]
		if !wasClean || i >= p.dirty {
			prev = cleanedSeg{firstMs: c.nowMs}
		}
		horizon := i < p.dirty && wasClean && prev.firstMs+c.cfg.DeleteRetention.Milliseconds() <= c.nowMs
		var kept, deletes bool
		if i < p.dirty && len(c.keys) == 0 && (!horizon || !prev.deletes) {
			// A clean segment with nothing to drop (its aborted records
			// went when it was dirty, it has no tombstone or marker due):
			// only follow its transactions.
			kept, deletes, err = true, prev.deletes, c.scanTxns(p.files[i], p.sizes[i])
		} else {
			kept, deletes, err = c.cleanSegment(ctx, i, horizon)
		}
		if err != nil {
			return err
		}
		if kept {
			next.segs[s.base] = cleanedSeg{firstMs: prev.firstMs, deletes: deletes}
		}
		next.clean = max(next.clean, s.next)
	}
	if err := c.hook("swapped"); err != nil {
		return err
	}
	if err := syncDir(c.l.dir); err != nil {
		return err
	}
	return writeCleanCheckpoint(c.l.dir, next)
}

// hook lets tests stop a pass at a step, as a crash there would.
func (c *cleaner) hook(step string) error {
	if c.l.cleanHook == nil {
		return nil
	}
	return c.l.cleanHook(step)
}

// isAborted reports whether a transactional data batch belongs to an aborted
// transaction: one of its producer's that spans the batch's base offset.
func (c *cleaner) isAborted(h *batchHeader) bool {
	for _, a := range c.aborted[h.producerID] {
		if a.FirstOffset <= h.baseOffset && h.baseOffset <= a.LastOffset {
			return true
		}
	}
	return false
}

// mapKeys records the newest offset of every key in the dirty segments,
// leaving out control batches and aborted transactions. It returns how many
// segments of the plan the pass covers: all, unless the map filled up.
func (c *cleaner) mapKeys(ctx context.Context) (int, error) {
	p := c.p
	for i := p.dirty; i < len(p.segs); i++ {
		if len(c.keys) >= maxCleanKeys {
			return i, nil
		}
		it := batchReader{r: p.files[i], end: p.sizes[i]}
		for {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			_, b, ok := it.next(true)
			if !ok {
				break
			}
			h := parseHeader(b)
			if h.attributes&attrControl != 0 || h.attributes&attrTransactional != 0 && c.isAborted(&h) {
				continue
			}
			d, err := decodeBatch(b)
			if err != nil {
				return 0, fmt.Errorf("storage: clean segment %d: batch at offset %d: %w", p.segs[i].base, h.baseOffset, err)
			}
			for _, r := range d.records {
				if r.key != nil {
					c.keys[c.hash(r.key)] = r.offset
				}
			}
		}
		if it.err != nil {
			return 0, it.err
		}
		c.stats.BytesRead += p.sizes[i]
	}
	return len(p.segs), nil
}

// scanTxns follows the transactions of a segment the pass leaves alone,
// from its batch headers.
func (c *cleaner) scanTxns(f *os.File, size int64) error {
	it := batchReader{r: f, end: size}
	for {
		_, b, ok := it.next(false)
		if !ok {
			return it.err
		}
		h := parseHeader(b)
		switch {
		case h.attributes&attrControl != 0:
			delete(c.txnData, h.producerID)
		case h.attributes&attrTransactional != 0:
			c.txnData[h.producerID] = true
		}
	}
}

// cleanSegment cleans segment i of the plan; horizon says whether its
// tombstones and removable markers have outlived DeleteRetention. kept is
// false when the segment was deleted; deletes reports tombstones or
// markers left that only wait for DeleteRetention.
func (c *cleaner) cleanSegment(ctx context.Context, i int, horizon bool) (kept, deletes bool, err error) {
	s, f, size := c.p.segs[i], c.p.files[i], c.p.sizes[i]
	w := newSegWriter(s, f, c.cfg.indexInterval())
	defer w.discard()
	it := batchReader{r: f, end: size}
	for {
		if err := ctx.Err(); err != nil {
			return false, false, err
		}
		pos, b, ok := it.next(true)
		if !ok {
			break
		}
		out, del, err := c.cleanBatch(b, horizon)
		if err != nil {
			return false, false, fmt.Errorf("storage: clean segment %d: %w", s.base, err)
		}
		deletes = deletes || del
		if err := w.add(pos, b, out); err != nil {
			return false, false, err
		}
	}
	if it.err != nil {
		return false, false, it.err
	}
	c.stats.Segments++
	c.stats.BytesRead += size
	if it.torn {
		// A closed segment never ends torn unless the disk lost data;
		// leave it as it is rather than guess.
		c.l.logger.Warn("not cleaning a segment ending in an unreadable batch", "segment", s.path(extLog), "pos", it.pos)
		return true, deletes, nil
	}
	if !w.started {
		return true, deletes, nil
	}
	if err := w.finish(); err != nil {
		return false, false, err
	}
	if err := c.hook("cleaned"); err != nil {
		return false, false, err
	}
	res, err := c.swap(s, w)
	if err == nil && res != swapGone {
		c.stats.Rewritten++
		c.stats.BytesWritten += w.pos
	}
	return res == swapReplaced, deletes, err
}

// cleanBatch returns what stays of one batch: the batch itself, a rebuilt
// one, or nil. deletes reports a tombstone or marker that stays only until
// DeleteRetention.
func (c *cleaner) cleanBatch(b []byte, horizon bool) (out []byte, deletes bool, err error) {
	h := parseHeader(b)
	txn := h.attributes&attrTransactional != 0
	if h.attributes&attrControl != 0 {
		return c.cleanMarker(b, &h, horizon)
	}
	n := int(int32(binary.BigEndian.Uint32(b[offNumRecords:])))
	var kept []cleanRecord
	var d *decodedBatch
	if !txn || !c.isAborted(&h) {
		if d, err = decodeBatch(b); err != nil {
			return nil, false, fmt.Errorf("batch at offset %d: %w", h.baseOffset, err)
		}
		for _, r := range d.records {
			if r.key != nil && c.keys[c.hash(r.key)] > r.offset {
				continue
			}
			if r.tombstone {
				if horizon {
					continue
				}
				deletes = true
			}
			kept = append(kept, r)
		}
	}
	c.stats.RecordsRemoved += int64(n - len(kept))
	switch {
	case len(kept) == n && n > 0:
		out = b
	case len(kept) > 0:
		if out, err = d.rebuild(kept); err != nil {
			return nil, false, err
		}
	case h.producerID < 0 || c.p.lastBatch[h.producerID] != h.lastOffset:
		return nil, deletes, nil
	case n == 0:
		out = b // already emptied by an earlier pass
	default:
		if d == nil {
			if d, err = decodeBatch(b); err != nil {
				return nil, false, fmt.Errorf("batch at offset %d: %w", h.baseOffset, err)
			}
		}
		if out, err = d.rebuild(nil); err != nil {
			return nil, false, err
		}
	}
	if txn {
		c.txnData[h.producerID] = true
	}
	return out, deletes, nil
}

// cleanMarker decides on a control batch: a COMMIT marker goes once its
// transaction kept no batch and DeleteRetention has passed; everything else
// stays.
func (c *cleaner) cleanMarker(b []byte, h *batchHeader, horizon bool) ([]byte, bool, error) {
	hadData := c.txnData[h.producerID]
	delete(c.txnData, h.producerID)
	m, err := parseMarker(b)
	if err != nil || !m.ok || !m.commit || hadData {
		// An unreadable control batch is kept as it is: it is not ours to judge.
		return b, false, nil
	}
	if !horizon {
		return b, true, nil
	}
	c.stats.RecordsRemoved += int64(h.lastOffset - h.baseOffset + 1)
	return nil, false, nil
}
