// Command pageviews is eddy's windowed analytics example: it counts the views of each
// page per one-minute tumbling window and prints each window's final count once the
// window closes.
//
// It starts the bundled broker in-process on a free local port, produces a sample of
// page views with timestamps over a few minutes, runs the application with the eddy
// runtime, prints the final results as they arrive, and exits:
//
//	go run ./examples/pageviews
//
// The topology:
//
//	b.Stream("page-views", ...).                 // key: user, value: page
//		GroupBy(func(_, page string) string { return page }).
//		WindowedBy(dsl.TimeWindowsOf(time.Minute).Grace(10 * time.Second)).
//		Count(dsl.EmitOnWindowClose()).        // one final count per page and minute
//		ToStream().To("page-views-per-minute")
//
// Windows close by stream time, the largest record timestamp a task has seen, not by
// the wall clock: the last sample view, minutes after the others, closes the earlier
// windows, and its own window stays open, so it is never printed. The topics have one
// partition so that one task sees every view; with more, each partition's stream time
// closes its own windows.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/internal/sandbox"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// view is one sample page view: who, what, and when after the start of the sample.
type view struct {
	user, page string
	at         time.Duration
}

var sample = []view{
	{"ada", "/home", 2 * time.Second}, {"bob", "/home", 14 * time.Second}, {"ada", "/pricing", 21 * time.Second},
	{"cy", "/home", 48 * time.Second}, {"bob", "/docs", 59 * time.Second},
	{"ada", "/docs", 63 * time.Second},
	{"cy", "/pricing", 55 * time.Second}, // out of order, within grace: counted
	{"dee", "/home", 75 * time.Second},
	{"bob", "/pricing", 50 * time.Second}, // its window closed at 70s: dropped as late
	{"bob", "/home", 101 * time.Second}, {"ada", "/home", 119 * time.Second},
	{"dee", "/pricing", 130 * time.Second},
	{"cy", "/home", 5 * time.Minute}, // advances stream time: closes the windows before it
}

const (
	window  = time.Minute
	grace   = 10 * time.Second
	timeout = time.Minute
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pageviews:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) (err error) {
	sb, err := sandbox.Start(ctx, "pageviews", out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sb.Close()) }()
	if err := sb.CreateTopics(ctx, 1, "page-views", "page-views-per-minute"); err != nil {
		return err
	}
	start := time.Now().Truncate(window).Add(-10 * window)
	if err := produce(ctx, sb.Client, start); err != nil {
		return err
	}
	fmt.Fprintf(out, "produced %d page views from %s\n\n", len(sample), start.Format(time.TimeOnly))

	top, err := topology()
	if err != nil {
		return err
	}
	app, err := sb.RunApp(ctx, "pageviews", top)
	if err != nil {
		return err
	}
	readErr := printResults(ctx, out, sb.Client, expected(start), app)
	return errors.Join(readErr, app.Stop(ctx))
}

// topology counts views per page per minute, emitting each window's final count.
func topology() (*runtime.Topology, error) {
	b := dsl.NewBuilder()
	b.Stream("page-views", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		GroupBy(func(_, page string) string { return page }).
		WindowedBy(dsl.TimeWindowsOf(window).Grace(grace)).
		Count(dsl.Named("views-per-minute"), dsl.Materialized[string, int64]{Name: "views-per-minute"}, dsl.EmitOnWindowClose()).
		ToStream().
		To("page-views-per-minute")
	return b.Build()
}

func produce(ctx context.Context, cl *kgo.Client, start time.Time) error {
	var recs []*kgo.Record
	for _, v := range sample {
		recs = append(recs, &kgo.Record{Topic: "page-views", Key: []byte(v.user), Value: []byte(v.page), Timestamp: start.Add(v.at)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

// expected returns how many final results the sample gives: one per page and window
// that closes before the last view's time.
func expected(start time.Time) int {
	last := start.Add(sample[len(sample)-1].at)
	windows := map[string]bool{}
	for _, v := range sample {
		ws := start.Add(v.at).Truncate(window)
		if !ws.Add(window + grace).After(last) {
			windows[v.page+ws.String()] = true
		}
	}
	return len(windows)
}

// printResults reads the final counts until n arrived, the app fails, or ctx ends.
func printResults(ctx context.Context, out io.Writer, cl *kgo.Client, n int, app *sandbox.App) error {
	cl.AddConsumeTopics("page-views-per-minute")
	keys := serde.TimeWindowedKey(serde.String(), window.Milliseconds())
	counts := serde.Nullable(serde.Int64())
	fmt.Fprintf(out, "%-13s  %-9s  %s\n", "window", "page", "views")
	for seen := 0; seen < n; {
		if err := app.Failed(); err != nil {
			return fmt.Errorf("app stopped: %w", err)
		}
		pollCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("results did not arrive: %w", ctx.Err())
		}
		var decodeErr error
		fs.EachRecord(func(r *kgo.Record) {
			w, err := keys.Decode(r.Key)
			if err != nil {
				decodeErr = err
				return
			}
			c, err := counts.Decode(r.Value)
			if err != nil || c == nil {
				decodeErr = errors.Join(err, errors.New("no count"))
				return
			}
			span := time.UnixMilli(w.Start).Format("15:04") + "-" + time.UnixMilli(w.End).Format("15:04")
			fmt.Fprintf(out, "%-13s  %-9s  %s %d\n", span, w.Key, strings.Repeat("#", int(*c)), *c)
			seen++
		})
		if decodeErr != nil {
			return fmt.Errorf("decode result: %w", decodeErr)
		}
	}
	return nil
}
