package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/internal/sandbox"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// demoLines and demoPageViews are the sample streams the demo produces.
var (
	demoLines = []string{
		"the quick brown fox jumps over the lazy dog",
		"the dog sleeps",
		"a fox is quick and a dog is lazy",
		"streams of records flow like an eddy",
	}
	// Each view is "user page".
	demoPageViews = []string{
		"ada /home", "bob /home", "ada /pricing", "cy /home", "bob /docs",
		"ada /docs", "cy /pricing", "dee /home", "bob /home", "ada /home",
	}
)

// demoTimeout bounds the whole demo, so a broken machine fails it instead of hanging.
const demoTimeout = 2 * time.Minute

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run a word count and a page-view count on an in-process broker",
		Long: `Start the bundled broker in-process on a free local port, create the topics,
produce a sample stream of lines and page views, run a word count and a page-view count
with the eddy runtime, print the final counts, and exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), demoTimeout)
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout())
		},
	}
}

// runDemo runs the whole demo in a sandbox it removes afterwards.
func runDemo(ctx context.Context, out io.Writer) (err error) {
	sb, err := sandbox.Start(ctx, "demo", out)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() { err = errors.Join(err, sb.Close()) }()
	if err := sb.CreateTopics(ctx, 3, "lines", "page-views", "word-counts", "page-view-counts"); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := demoProduce(ctx, sb.Client); err != nil {
		return err
	}
	fmt.Fprintf(out, "produced %d lines and %d page views\n", len(demoLines), len(demoPageViews))

	top, err := demoTopology()
	if err != nil {
		return err
	}
	app, err := sb.RunApp(ctx, "eddy-demo", top)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	words, views, readErr := demoResults(ctx, sb.Client, app)
	if err := errors.Join(readErr, app.Stop(ctx)); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	printCounts(out, "word counts", words)
	printCounts(out, "page views", views)
	return nil
}

func demoProduce(ctx context.Context, cl *kgo.Client) error {
	var recs []*kgo.Record
	for i, l := range demoLines {
		recs = append(recs, &kgo.Record{Topic: "lines", Key: fmt.Appendf(nil, "line-%d", i), Value: []byte(l)})
	}
	for _, v := range demoPageViews {
		user, page, _ := strings.Cut(v, " ")
		recs = append(recs, &kgo.Record{Topic: "page-views", Key: []byte(user), Value: []byte(page)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("demo: produce: %w", err)
	}
	return nil
}

// demoTopology is the word count and the page-view count, two sub-topologies of one
// application.
func demoTopology() (*runtime.Topology, error) {
	b := dsl.NewBuilder()
	strs := dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
	b.Stream("lines", strs).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, word string) string { return word }).
		Count(dsl.Materialized[string, int64]{Name: "word-counts"}).
		ToStream().
		To("word-counts")
	b.Stream("page-views", strs).
		GroupBy(func(_, page string) string { return page }).
		Count(dsl.Materialized[string, int64]{Name: "page-view-counts"}).
		ToStream().
		To("page-view-counts")
	top, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("demo: topology: %w", err)
	}
	return top, nil
}

// demoResults reads both output topics until the counts equal what the sample implies,
// or the app fails, or ctx ends.
func demoResults(ctx context.Context, cl *kgo.Client, app *sandbox.App) (words, views map[string]int64, err error) {
	wantWords, wantViews := map[string]int64{}, map[string]int64{}
	for _, l := range demoLines {
		for _, w := range strings.Fields(l) {
			wantWords[w]++
		}
	}
	for _, v := range demoPageViews {
		_, page, _ := strings.Cut(v, " ")
		wantViews[page]++
	}
	cl.AddConsumeTopics("word-counts", "page-view-counts")
	words, views = map[string]int64{}, map[string]int64{}
	i64 := serde.Int64()
	for !maps.Equal(words, wantWords) || !maps.Equal(views, wantViews) {
		if err := app.Failed(); err != nil {
			return nil, nil, fmt.Errorf("app stopped: %w", err)
		}
		pollCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("results did not arrive: %w", ctx.Err())
		}
		var decodeErr error
		fs.EachRecord(func(r *kgo.Record) {
			n, err := i64.Decode(r.Value)
			if err != nil {
				decodeErr = err
				return
			}
			if r.Topic == "word-counts" {
				words[string(r.Key)] = n
			} else {
				views[string(r.Key)] = n
			}
		})
		if decodeErr != nil {
			return nil, nil, fmt.Errorf("decode count: %w", decodeErr)
		}
	}
	return words, views, nil
}

func printCounts(out io.Writer, title string, counts map[string]int64) {
	fmt.Fprintf(out, "\n%s:\n", title)
	keys := slices.Sorted(maps.Keys(counts))
	slices.SortStableFunc(keys, func(a, b string) int { return int(counts[b] - counts[a]) })
	for _, k := range keys {
		fmt.Fprintf(out, "  %-10s %d\n", k, counts[k])
	}
}
