package testdriver

import (
	"errors"
	"fmt"
	"time"

	"github.com/eddy-io/eddy/runtime"
)

// consume hands a record read from topic t to the task (or global task) owning its
// partition.
func (d *Driver) consume(t *topic, rec runtime.ConsumedRecord) error {
	if t.global {
		d.globalDirty = true
		return d.global.Process([]runtime.ConsumedRecord{rec})
	}
	dt := d.bySub[t.reader][rec.Partition]
	dt.dirty = true
	d.addBuf = append(d.addBuf[:0], rec)
	dt.task.Add(d.addBuf) // Add copies the records
	d.addBuf[0] = runtime.ConsumedRecord{}
	return nil
}

// drain runs every task until no record is left anywhere, committing the tasks that
// worked, which may flush caches and so produce more records, until all is quiet. It
// does nothing inside Batch.
func (d *Driver) drain() error {
	if d.batching {
		return nil
	}
	for {
		for len(d.pending) > 0 {
			pending := d.pending
			d.pending = d.spare[:0]
			for i := range pending {
				if err := d.consume(pending[i].topic, pending[i].rec); err != nil {
					return d.fail(err)
				}
			}
			clear(pending)
			d.spare = pending
			for _, t := range d.tasks {
				for {
					ok, err := t.task.Process()
					if err != nil {
						return d.fail(err)
					}
					if !ok {
						break
					}
				}
			}
		}
		if err := d.commit(); err != nil {
			return d.fail(err)
		}
		if len(d.pending) == 0 {
			return nil
		}
	}
}

// commit commits the tasks that worked since their last commit, as Kafka's driver
// commits after each record.
func (d *Driver) commit() error {
	for _, t := range d.tasks {
		if !t.dirty || t.stateless {
			continue
		}
		t.dirty = false
		if _, err := t.task.Commit(); err != nil {
			return err
		}
	}
	if d.globalDirty {
		d.globalDirty = false
		if _, err := d.global.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Batch runs fn with processing held back: records piped inside fn are queued in
// their tasks and processed, then committed, when fn returns, so a task picks among
// its partitions by timestamp as it does when a poll returns many records. Batches
// do not nest. fn's error is returned, after the queued records were processed.
func (d *Driver) Batch(fn func() error) error {
	if err := d.check(); err != nil {
		return err
	}
	if d.batching {
		return errors.New("testdriver: Batch inside Batch")
	}
	d.batching = true
	fnErr := func() error {
		defer func() { d.batching = false }()
		return fn()
	}()
	if err := d.check(); err != nil {
		return errors.Join(fnErr, err)
	}
	return errors.Join(fnErr, d.drain())
}

// AdvanceWallClockTime moves the mocked wall clock forward by step, fires the
// wall-clock punctuators that are due in every task, processes what they produced and
// commits.
func (d *Driver) AdvanceWallClockTime(step time.Duration) error {
	if err := d.check(); err != nil {
		return err
	}
	if step < 0 {
		return fmt.Errorf("testdriver: wall clock cannot go back (%v)", step)
	}
	d.now += step.Milliseconds()
	for _, t := range d.tasks {
		t.dirty = true
		if err := t.task.PunctuateWallClock(d.now); err != nil {
			return d.fail(err)
		}
	}
	return d.drain()
}
