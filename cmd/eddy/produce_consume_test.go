package main

import (
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sortedLines returns the lines of s, sorted, so that output read from several
// partitions can be compared.
func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines)
	return lines
}

// TestProduceConsumeRoundTrip produces keyed lines to three partitions and reads them
// back in every output format.
func TestProduceConsumeRoundTrip(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "views", "--partitions", "3")
	input := "ada:/home\nbob:/docs\ncy:/pricing\nada:/docs\nno key here\n\ndee:a:b\r\n"
	_, stderr, err := e.run(input, "produce", "views", "--key-separator", ":")
	if err != nil || stderr != "produced 7 of 7 records to views\n" {
		t.Fatalf("produce: err %v, stderr %q", err, stderr)
	}

	tests := []struct {
		format string
		want   []string // sorted lines
	}{
		{"value", []string{"", "/docs", "/docs", "/home", "/pricing", "a:b", "no key here"}},
		{"key-value", []string{"\t", "\tno key here", "ada\t/docs", "ada\t/home", "bob\t/docs", "cy\t/pricing", "dee\ta:b"}},
		{`<%k|%v>\n`, []string{"<ada|/docs>", "<ada|/home>", "<bob|/docs>", "<cy|/pricing>", "<dee|a:b>", "<|>", "<|no key here>"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out, stderr, err := e.run("", "consume", "views", "--from-beginning", "--count", "7", "--format", tt.format)
			if err != nil || stderr != "consumed 7 records\n" {
				t.Fatalf("consume: err %v, stderr %q", err, stderr)
			}
			if got := sortedLines(out); !slices.Equal(got, tt.want) {
				t.Fatalf("records\n got %q\nwant %q", got, tt.want)
			}
		})
	}

	// The same key lands in the same partition, in order.
	out := e.must("", "consume", "views", "--from-beginning", "--count", "7", "--format", "json")
	type rec struct {
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
		Key       *string `json:"key"`
		Value     string  `json:"value"`
	}
	var ada []rec
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for ; ; n++ {
		var r rec
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("json line %d: %v\n%s", n, err, out)
		}
		if r.Key != nil && *r.Key == "ada" {
			ada = append(ada, r)
		}
	}
	if n != 7 || len(ada) != 2 || ada[0].Partition != ada[1].Partition || ada[0].Value != "/home" || ada[1].Offset != ada[0].Offset+1 {
		t.Fatalf("json: %d records, ada's %+v\n%s", n, ada, out)
	}
}

// TestProducePartitionAndAcks writes to a chosen partition with each acks setting.
func TestProducePartitionAndAcks(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "p", "--partitions", "2")
	for _, acks := range []string{"all", "1", "0"} {
		if _, stderr, err := e.run("x\ny\n", "produce", "p", "--partition", "1", "--acks", acks); err != nil {
			t.Fatalf("--acks %s: %v %s", acks, err, stderr)
		}
	}
	out := e.must("", "consume", "p", "--from-beginning", "--count", "6", "--format", `%p:%v\n`)
	if out != strings.Repeat("1:x\n1:y\n", 3) {
		t.Fatalf("records:\n%s", out)
	}
}

func TestProduceErrors(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "one")
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string // a regexp the error must match
	}{
		{"bad acks", "", []string{"produce", "one", "--acks", "2"}, `--acks "2"`},
		{"transaction without acks all", "", []string{"produce", "one", "--acks", "1", "--transactional-id", "t"}, `needs --acks all`},
		{"bad partition flag", "", []string{"produce", "one", "--partition", "-2"}, `--partition -2`},
		{"no such partition", "a\n", []string{"produce", "one", "--partition", "3"}, `produce failed: 1 records failed.*partition`},
		{"no such topic", "a\n", []string{"produce", "nope", "--timeout", "3s"}, `produce failed: 1 records failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.run(tt.stdin, tt.args...)
			if err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Fatalf("err = %v, want it to match %s", err, tt.want)
			}
		})
	}
}

// TestTransactionalProduce commits one transaction, aborts an interrupted one and
// checks what read_committed and read_uncommitted consumers see.
func TestTransactionalProduce(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "txn")
	_, stderr, err := e.run("a\nb\nc\n", "produce", "txn", "--transactional-id", "loader")
	if err != nil || stderr != "produced 3 of 3 records to txn; transaction loader committed\n" {
		t.Fatalf("produce: err %v, stderr %q", err, stderr)
	}

	// A second transaction is interrupted once its records are in the log.
	in, feed := io.Pipe()
	t.Cleanup(func() { feed.Close() })
	prod := e.start(in, "produce", "txn", "--transactional-id", "loader")
	if _, err := io.WriteString(feed, "doomed-1\ndoomed-2\n"); err != nil {
		t.Fatal(err)
	}
	peek := e.start(strings.NewReader(""), "consume", "txn", "--from-beginning", "--isolation", "read_uncommitted", "--count", "5")
	if err := peek.wait(t); err != nil || peek.stdout.String() != "a\nb\nc\ndoomed-1\ndoomed-2\n" {
		t.Fatalf("read_uncommitted during the transaction: %v\n%s", err, peek.stdout.String())
	}
	prod.cancel()
	err = prod.wait(t)
	if err == nil || !strings.Contains(err.Error(), "transaction aborted") ||
		prod.stderr.String() != "produced 2 of 2 records to txn; transaction loader aborted (interrupted)\n" {
		t.Fatalf("interrupted produce: err %v, stderr %q", err, prod.stderr.String())
	}

	e.must("d\n", "produce", "txn", "--transactional-id", "loader")
	tests := []struct {
		isolation string
		count     string
		want      string
	}{
		{"read_committed", "4", "a\nb\nc\nd\n"},
		{"read_uncommitted", "6", "a\nb\nc\ndoomed-1\ndoomed-2\nd\n"},
	}
	for _, tt := range tests {
		t.Run(tt.isolation, func(t *testing.T) {
			out := e.must("", "consume", "txn", "--from-beginning", "--isolation", tt.isolation, "--count", tt.count)
			if out != tt.want {
				t.Fatalf("records:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
	if _, _, err := e.run("", "consume", "txn", "--isolation", "dirty"); err == nil || !strings.Contains(err.Error(), "--isolation") {
		t.Fatalf("bad isolation: %v", err)
	}
}

// TestConsumeUntilInterrupted follows a topic from its end and stops cleanly when the
// command's context ends, as Ctrl-C does.
func TestConsumeUntilInterrupted(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "live")
	e.must("old\n", "produce", "live")
	cons := e.start(strings.NewReader(""), "consume", "live", "--format", `%o %v\n`)
	// The consumer starts at the end; produce until it has seen a new record.
	for i := 0; !strings.Contains(cons.stdout.String(), "new"); i++ {
		if i == 100 {
			t.Fatalf("consumer saw nothing:\n%s", cons.stderr.String())
		}
		e.must("new\n", "produce", "live")
		time.Sleep(100 * time.Millisecond)
	}
	cons.cancel()
	if err := cons.wait(t); err != nil {
		t.Fatalf("interrupted consume: %v", err)
	}
	if out := cons.stdout.String(); strings.Contains(out, "old") || !regexp.MustCompile(`^(\d+ new\n)+$`).MatchString(out) {
		t.Fatalf("records:\n%s", out)
	}
	if !regexp.MustCompile(`^consumed [1-9]\d* records\n$`).MatchString(cons.stderr.String()) {
		t.Fatalf("stderr %q", cons.stderr.String())
	}
	if _, _, err := e.run("", "consume", "missing"); err == nil || !strings.Contains(err.Error(), "topic missing: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("missing topic: %v", err)
	}
}
