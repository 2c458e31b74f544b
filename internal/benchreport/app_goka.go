package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"path/filepath"
	"strings"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// gokaSaramaConfig is goka's default sarama configuration with the section's common
// ground: no compression (goka's default is snappy), acks=all (goka waits for the leader
// only), input from the oldest offset (goka starts streams at the newest) and the
// section's commit interval.
func gokaSaramaConfig() *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Producer.Compression = sarama.CompressionNone
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = appCommitInterval
	return cfg
}

// gokaOptions configures a processor with gokaSaramaConfig, replication factor 1 for the
// topics it creates (goka's default is 2, which a one-broker cluster cannot host), its
// LevelDB stores under dir, and no logging. Each builder gets a configuration of its
// own, since goka's builders write the client ID into theirs.
func gokaOptions(dir string) []goka.ProcessorOption {
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = 1
	tm.Stream.Replication = 1
	return []goka.ProcessorOption{
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(gokaSaramaConfig(), tm)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(gokaSaramaConfig())),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(gokaSaramaConfig())),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(gokaSaramaConfig())),
		goka.WithStorageBuilder(storage.DefaultBuilder(dir)),
		goka.WithLogger(log.New(io.Discard, "", 0)),
	}
}

func runWordCountGoka(ctx context.Context, env appEnv, run int) (outputTimes, error) {
	words := goka.Stream(fmt.Sprintf("wordcount-words-goka-%d", run))
	out := goka.Stream(fmt.Sprintf("wordcount-out-goka-%d", run))
	// goka would create the words topic, but with its retention settings; create both
	// as eddy's repartition and output topics are, with the same partition count.
	if err := createAppTopics(ctx, env.addr, string(words), string(out)); err != nil {
		return outputTimes{}, err
	}
	dir, err := env.stateDir("goka")
	if err != nil {
		return outputTimes{}, err
	}
	split := goka.DefineGroup(goka.Group(fmt.Sprintf("wordcount-goka-split-%d", run)),
		goka.Input(wordCountInput, new(codec.String), func(gctx goka.Context, msg any) {
			for _, w := range strings.Fields(msg.(string)) {
				gctx.Emit(words, w, w)
			}
		}),
		goka.Output(words, new(codec.String)),
	)
	count := goka.DefineGroup(goka.Group(fmt.Sprintf("wordcount-goka-count-%d", run)),
		goka.Input(words, new(codec.String), func(gctx goka.Context, _ any) {
			var n int64
			if v := gctx.Value(); v != nil {
				n = v.(int64)
			}
			n++
			gctx.SetValue(n)
			gctx.Emit(out, gctx.Key(), n)
		}),
		goka.Persist(new(codec.Int64)),
		goka.Output(out, new(codec.Int64)),
	)
	return timeUntilOutput(ctx, env.addr, string(out), int64(wordCountWords()), func(ctx context.Context) (func() error, <-chan error, error) {
		var procs []*goka.Processor
		for i, g := range []*goka.GroupGraph{split, count} {
			p, err := goka.NewProcessor([]string{env.addr}, g, gokaOptions(filepath.Join(dir, fmt.Sprint(i)))...)
			if err != nil {
				return nil, nil, fmt.Errorf("goka: %w", err)
			}
			procs = append(procs, p)
		}
		pctx, cancel := context.WithCancel(ctx)
		failed := make(chan error, len(procs))
		runErrs := make(chan error, len(procs))
		for _, p := range procs {
			go func() {
				err := p.Run(pctx)
				runErrs <- err
				if err == nil {
					err = errNoError
				}
				failed <- err
			}()
		}
		stop := func() error {
			cancel()
			var errs []error
			for range procs {
				if err := <-runErrs; err != nil && !errors.Is(err, context.Canceled) {
					errs = append(errs, err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("goka: %w", err)
			}
			return nil
		}
		return stop, failed, nil
	})
}
