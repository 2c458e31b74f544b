package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// extCleaned ends the temporary file a segment is cleaned into. It ends in
// ".tmp", so Open deletes one that a crash left behind.
const extCleaned = ".log.cleaned.tmp"

// segWriter writes the cleaned copy of a segment and builds its index. It
// creates the file only at the first batch that changes: up to there the
// copy is the segment's own prefix, and a segment with nothing to drop is
// never written at all.
type segWriter struct {
	src      *os.File
	seg      *segment // the replacement segment being built, file not yet set
	path     string
	f        *os.File
	w        *bufio.Writer
	pos      int64 // bytes of the copy so far
	started  bool
	interval int
}

func newSegWriter(s *segment, src *os.File, interval int) *segWriter {
	ns := &segment{dir: s.dir, base: s.base, next: s.base}
	ns.maxTs.Store(-1)
	return &segWriter{
		src:      src,
		seg:      ns,
		path:     s.path(extCleaned),
		interval: interval,
	}
}

// add takes the batch at pos of the source and what stays of it (nil for
// nothing, b itself when unchanged).
func (w *segWriter) add(pos int64, b, out []byte) error {
	same := len(out) == len(b) && (len(out) == 0 || &out[0] == &b[0])
	if !w.started && !same {
		if err := w.start(pos); err != nil {
			return err
		}
	}
	if len(out) == 0 {
		return nil
	}
	if w.started {
		if _, err := w.w.Write(out); err != nil {
			return fmt.Errorf("storage: write cleaned segment: %w", err)
		}
	}
	h := parseHeader(out)
	w.seg.addIndex(&h, w.pos, len(out), w.interval)
	w.pos += int64(len(out))
	return nil
}

// start creates the file and copies the unchanged prefix of the source.
func (w *segWriter) start(prefix int64) error {
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: create cleaned segment: %w", err)
	}
	w.f, w.started = f, true
	w.w = bufio.NewWriterSize(f, 256<<10)
	if _, err := io.Copy(w.w, io.NewSectionReader(w.src, 0, prefix)); err != nil {
		return fmt.Errorf("storage: write cleaned segment: %w", err)
	}
	return nil
}

// finish makes the copy durable.
func (w *segWriter) finish() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("storage: write cleaned segment: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("storage: fsync cleaned segment: %w", err)
	}
	return nil
}

// discard removes the copy unless swap took it.
func (w *segWriter) discard() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.path)
		w.f = nil
	}
}

// swapResult says what swap did with a segment.
type swapResult int

const (
	// swapGone: the segment was deleted meanwhile (retention); nothing done.
	swapGone swapResult = iota
	// swapReplaced: the copy took the segment's place.
	swapReplaced
	// swapDeleted: nothing was left in the segment, so it was deleted.
	swapDeleted
)

// swap puts the finished copy w in place of s, under mu and, for the
// exchange itself, segMu.
func (c *cleaner) swap(s *segment, w *segWriter) (swapResult, error) {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return swapGone, ErrClosed
	}
	k := slices.Index(l.segs, s)
	if k < 0 || s == l.active {
		return swapGone, nil
	}
	// Stale indexes must not survive next to the new file; missing ones
	// are rebuilt by Open if a crash comes before they are written again.
	for _, ext := range []string{extIndex, extTimeIndex} {
		if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return swapReplaced, fmt.Errorf("storage: clean: %w", err)
		}
	}
	if err := c.hook("indexes-removed"); err != nil {
		return swapReplaced, err
	}
	if w.pos == 0 && k > 0 {
		// Nothing left: the previous segment takes over the offsets.
		prev := l.segs[k-1]
		l.segMu.Lock()
		l.segs = slices.Delete(slices.Clone(l.segs), k, k+1)
		prev.next = s.next
		l.segMu.Unlock()
		l.dirty = slices.DeleteFunc(l.dirty, func(d *segment) bool { return d == s })
		err := s.remove()
		if ierr := writeIndexes(prev, prev.rel(prev.next)); ierr != nil {
			l.logger.Warn("rewriting indexes after cleaning", "err", ierr)
		}
		return swapDeleted, err
	}
	if err := os.Rename(w.path, s.path(extLog)); err != nil {
		if ierr := writeIndexes(s, s.rel(s.next)); ierr != nil {
			l.logger.Warn("restoring indexes after a failed clean", "err", ierr)
		}
		return swapReplaced, fmt.Errorf("storage: install cleaned segment: %w", err)
	}
	if err := c.hook("renamed"); err != nil {
		return swapReplaced, err
	}
	ns := w.seg
	ns.f, w.f = w.f, nil
	ns.next = s.next
	ns.size.Store(w.pos)
	ns.aborted = s.abortedEntries()
	l.segMu.Lock()
	segs := slices.Clone(l.segs)
	segs[k] = ns
	l.segs = segs
	l.segMu.Unlock()
	s.close()
	l.dirty = slices.DeleteFunc(l.dirty, func(d *segment) bool { return d == s })
	if err := writeIndexes(ns, ns.rel(ns.next)); err != nil {
		l.logger.Warn("writing indexes of a cleaned segment", "err", err)
	}
	return swapReplaced, nil
}
