package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/serde"
)

// wordCountLines is the word count's input size; a variable so that tests can run the
// section small.
var wordCountLines = 80_000

// The word count's input: wordCountLines lines of wordsPerLine words drawn from a
// vocabulary of wordCountVocabulary words.
const (
	wordsPerLine        = 8
	wordCountVocabulary = 2_000
	wordCountInput      = "wordcount-lines"
	// wordCountThreads is eddy's stream threads: one per core of the machine the
	// figures were first taken on; goka processes every partition on goroutines of its
	// own.
	wordCountThreads = 2
)

// wordCountLine is input line i, keyed by its number.
func wordCountLine(i int) (key, value []byte) {
	words := make([]string, wordsPerLine)
	for j := range words {
		// A multiplicative hash spreads the words over the vocabulary evenly.
		words[j] = fmt.Sprintf("word%d", uint32((i*wordsPerLine+j)*2654435761)%wordCountVocabulary)
	}
	return fmt.Appendf(nil, "line-%d", i), []byte(strings.Join(words, " "))
}

func wordCountWords() int { return wordCountLines * wordsPerLine }

func appWordCountSection(ctx context.Context, env appEnv, md *strings.Builder) error {
	if err := createAppTopics(ctx, env.addr, wordCountInput); err != nil {
		return err
	}
	if err := produceInput(ctx, env.addr, wordCountInput, wordCountLines, wordCountLine); err != nil {
		return err
	}
	contenders := []appContender{
		{id: "eddy", run: runWordCountEddy},
		{id: "goka", run: runWordCountGoka},
	}
	ds, err := compareApps(ctx, env, "word count", contenders)
	if err != nil {
		return err
	}
	fmt.Fprintf(md, "### Word count\n\n"+
		"%s lines of %d words (%s words, a vocabulary of %s) in a topic of %d partitions. Both contenders split the lines into words, "+
		"repartition them by word through a topic of %d partitions, count them in a persistent store logged to a compacted topic "+
		"(eddy: Badger and its changelog; goka: LevelDB and its group table), and write every updated count to an output topic. "+
		"**eddy** runs the DSL word count (`FlatMapValues`, `GroupBy`, `Count`, `ToStream().To`) with %d stream threads and no record cache, "+
		"so it, like goka, writes one changelog and one output record per word. "+
		"**goka** (%s, on %s) runs two processors, one emitting the words keyed by word and one keeping the counts in its group table, "+
		"with goka.DefaultConfig() changed to: no compression instead of snappy, acks=all instead of the leader's, input from the oldest offset, "+
		"and replication factor 1 instead of 2 for the topics it creates. "+
		"Times run from starting the application until a separate reader has seen the first and all %s output records; rates are of the latter.\n\n",
		thousands(float64(wordCountLines)), wordsPerLine, thousands(float64(wordCountWords())), thousands(wordCountVocabulary), appPartitions, appPartitions, wordCountThreads,
		moduleVersion("github.com/lovoo/goka"), moduleVersion("github.com/IBM/sarama"), thousands(float64(wordCountWords())))
	md.WriteString("| contender | first output (s) | all output (s) | lines/s | words/s |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, c := range contenders {
		t := ds[c.id]
		fmt.Fprintf(md, "| %s | %.2f | %.2f | %s | %s |\n", c.id, medianDuration(t.first).Seconds(), medianDuration(t.all).Seconds(),
			thousands(medianRate(wordCountLines, t.all)), thousands(medianRate(wordCountWords(), t.all)))
	}
	ratio := medianRate(wordCountLines, ds["eddy"].all) / medianRate(wordCountLines, ds["goka"].all)
	fmt.Fprintf(md, "| **eddy / goka** | | | **%.2fx** | **%.2fx** |\n\n", ratio, ratio)
	fmt.Fprintf(md, "Goal: at least 3x goka's records/s. eddy %s (%.2fx).\n\n", goalVerdict(ratio, 3), ratio)
	return nil
}

func runWordCountEddy(ctx context.Context, env appEnv, run int) (outputTimes, error) {
	out := fmt.Sprintf("wordcount-out-eddy-%d", run)
	if err := createAppTopics(ctx, env.addr, out); err != nil {
		return outputTimes{}, err
	}
	b := dsl.NewBuilder()
	b.Stream(wordCountInput, dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, word string) string { return word }).
		Count(dsl.Materialized[string, int64]{Name: "counts"}).
		ToStream().
		To(out)
	top, err := b.Build()
	if err != nil {
		return outputTimes{}, err
	}
	dir, err := env.stateDir("wordcount")
	if err != nil {
		return outputTimes{}, err
	}
	cfg := eddyConfig(env, fmt.Sprintf("wordcount-eddy-%d", run), dir, wordCountThreads)
	return timeUntilOutput(ctx, env.addr, out, int64(wordCountWords()), launchEddy(top, cfg))
}
