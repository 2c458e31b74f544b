package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestAppWorkloads checks the inputs against what the runs wait for: the filter keeps
// exactly statelessWant records, values have their stated size, and every line has
// its words.
func TestAppWorkloads(t *testing.T) {
	var kept int64
	for i := range statelessRecords {
		_, v := statelessRecord(i)
		if len(v) != statelessValueSize {
			t.Fatalf("record %d: %d B value, want %d", i, len(v), statelessValueSize)
		}
		if statelessKeep(strings.ToUpper(string(v))) {
			kept++
		}
	}
	if kept != statelessWant() {
		t.Errorf("filter keeps %d records, runs wait for %d", kept, statelessWant())
	}
	for i := range 1000 {
		if _, line := wordCountLine(i); len(strings.Fields(string(line))) != wordsPerLine {
			t.Fatalf("line %d %q: want %d words", i, line, wordsPerLine)
		}
	}
}

// TestAppBrokerChild drives the child side in-process: it must listen and exit cleanly
// when its input closes.
func TestAppBrokerChild(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- runAppBrokerChild(t.TempDir(), inR, outW)
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	if !sc.Scan() {
		t.Fatal("child wrote nothing")
	}
	addr, ok := strings.CutPrefix(sc.Text(), "addr ")
	if !ok {
		t.Fatalf("first line %q", sc.Text())
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	inW.Close()
	go io.Copy(io.Discard, outR)
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not exit")
	}
}

// TestAppSectionSmall runs the whole section once on small inputs, the broker in a
// child process (this test binary): every contender must finish and the report must
// carry every table.
func TestAppSectionSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, eddy applications and goka")
	}
	defer func(s, w, r, rss, runs int) {
		statelessRecords, wordCountLines, restoreRecords, appRSSPerPartition, *appRuns = s, w, r, rss, runs
	}(statelessRecords, wordCountLines, restoreRecords, appRSSPerPartition, *appRuns)
	statelessRecords, wordCountLines, restoreRecords, appRSSPerPartition, *appRuns = 3000, 500, 3000, 20, 1

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	md, err := runAppSection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **eddy / loop** |", "| **eddy / goka** |", "| **restore / consume** |", "RSS with 64 stateful tasks", "Goal: at least 0.80x", "Goal: at least 3x"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
