package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// appPartitions is the partition count of every topic of the section.
const appPartitions = 8

// createAppTopics creates topics with appPartitions partitions, replication factor 1.
func createAppTopics(ctx context.Context, addr string, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, appPartitions, 1, nil, topics...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	return nil
}

// produceInput writes n records made by gen to topic with acks=all and no compression,
// keyed so that the default partitioner spreads them over the partitions.
func produceInput(ctx context.Context, addr, topic string, n int, gen func(i int) (key, value []byte)) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range n {
		k, v := gen(i)
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("produce %s: %w", topic, firstErr)
	}
	return nil
}

// launchFunc starts the application under test and returns how to stop it and a
// channel that yields its error if it stops on its own.
type launchFunc func(ctx context.Context) (stop func() error, failed <-chan error, err error)

// outputTimes are the times from launching an application until a reader saw its first
// output record and until it saw all of them.
type outputTimes struct{ first, all time.Duration }

// timeUntilOutput starts a reader of topic, then the clock, then the application, and
// returns the times from launching it until the first and until want records have been
// read from topic. The application is stopped, untimed, before returning.
func timeUntilOutput(ctx context.Context, addr, topic string, want int64, launch launchFunc) (t outputTimes, err error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return t, err
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return t, fmt.Errorf("output reader: %w", err)
	}
	var (
		seen  atomic.Int64
		first atomic.Int64 // nanoseconds since start
	)
	reached := make(chan struct{})
	readErr := make(chan error, 1)
	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	start := time.Now()
	go func() {
		for {
			fs := cl.PollFetches(rctx)
			if rctx.Err() != nil {
				return
			}
			if err := fs.Err0(); err != nil {
				readErr <- fmt.Errorf("output reader: %w", err)
				return
			}
			n := int64(fs.NumRecords())
			if n > 0 {
				first.CompareAndSwap(0, int64(time.Since(start)))
			}
			if seen.Add(n) >= want {
				close(reached)
				return
			}
		}
	}()

	stop, failed, err := launch(ctx)
	if err != nil {
		return t, err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	select {
	case <-reached:
		return outputTimes{first: time.Duration(first.Load()), all: time.Since(start)}, nil
	case err := <-readErr:
		return t, err
	case err := <-failed:
		return t, fmt.Errorf("%w (%d of %d output records): %w", errAppEnded, seen.Load(), want, err)
	case <-ctx.Done():
		return t, fmt.Errorf("%d of %d output records: %w", seen.Load(), want, ctx.Err())
	}
}

// errNoError stands for an application that returned nil before it was asked to stop.
var errNoError = errors.New("returned without error")
