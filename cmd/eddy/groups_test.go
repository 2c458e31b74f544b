package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGroupsCmd consumes part of a topic in a group, then checks the committed offsets
// and lag that `groups describe` prints, that the next run resumes after the commit, and
// that the group lists and deletes.
func TestGroupsCmd(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "events", "--partitions", "2")
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "v%d\n", i)
	}
	e.must(in.String(), "produce", "events", "--partition", "0")
	e.must("w0\nw1\n", "produce", "events", "--partition", "1")

	// Which 4 of the 12 records the first run prints depends on the fetches; what it
	// commits must be exactly those.
	firstRun := e.must("", "consume", "events", "--group", "audit", "--from-beginning", "--count", "4")
	if len(strings.Fields(firstRun)) != 4 {
		t.Fatalf("first run printed:\n%s", firstRun)
	}
	out := e.must("", "groups", "describe", "audit")
	header := "group audit: state Empty, protocol consumer, coordinator 1, 0 members\n" +
		"TOPIC   PARTITION  COMMITTED  END  LAG  MEMBER\n"
	if !strings.HasPrefix(out, header) || !strings.HasSuffix(out, "total lag 8\n") {
		t.Fatalf("describe after 4 of 12:\n%s", out)
	}
	committed := 0
	for _, m := range regexp.MustCompile(`(?m)^events  (\d)          (\S+) +(\d+) +(\d+) +-$`).FindAllStringSubmatch(out, -1) {
		var c, end, lag int
		if m[2] != "-" {
			fmt.Sscan(m[2], &c)
		}
		fmt.Sscan(m[3], &end)
		fmt.Sscan(m[4], &lag)
		if want := map[string]int{"0": 10, "1": 2}[m[1]]; end != want || lag != end-c {
			t.Fatalf("partition %s: committed %s end %d lag %d\n%s", m[1], m[2], end, lag, out)
		}
		committed += c
	}
	if committed != 4 {
		t.Fatalf("committed %d records in all, want 4:\n%s", committed, out)
	}

	// The next run in the group resumes after what the first one printed.
	// --from-beginning only applies to partitions the group has no commit for.
	secondRun := e.must("", "consume", "events", "--group", "audit", "--from-beginning", "--count", "8")
	all := e.must("", "consume", "events", "--from-beginning", "--count", "12")
	if got, want := sortedLines(firstRun+secondRun), sortedLines(all); !slices.Equal(got, want) {
		t.Fatalf("the runs printed\n%s\nand\n%s\nnot all of\n%s", firstRun, secondRun, all)
	}
	out = e.must("", "groups", "describe", "audit")
	if !strings.HasSuffix(out, "total lag 0\n") {
		t.Fatalf("describe after all:\n%s", out)
	}

	if out := e.must("", "groups", "list"); out != "GROUP  STATE  TYPE\naudit  Empty  consumer\n" {
		t.Fatalf("list:\n%s", out)
	}
	if out := e.must("", "groups", "delete", "audit"); out != "deleted group audit\n" {
		t.Fatalf("delete: %q", out)
	}
	if _, _, err := e.run("", "groups", "describe", "audit"); err == nil || !strings.Contains(err.Error(), "describe group audit: no such group") {
		t.Fatalf("describe deleted group: %v", err)
	}
	if _, _, err := e.run("", "groups", "delete", "audit"); err == nil || !strings.Contains(err.Error(), "GROUP_ID_NOT_FOUND") {
		t.Fatalf("delete deleted group: %v", err)
	}
}

// TestGroupsDescribeActive describes a group while a member consumes.
func TestGroupsDescribeActive(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "busy", "--partitions", "2")
	e.must("a\nb\nc\n", "produce", "busy")
	cons := e.start(strings.NewReader(""), "consume", "busy", "--group", "live", "--from-beginning")
	member := regexp.MustCompile(`(?m)^(eddy-cli-\S+) +eddy-cli +\S+ +busy\[0,1\]$`)
	var out string
	for i := 0; ; i++ {
		out, _, _ = e.run("", "groups", "describe", "live") // "no such group" until it joins
		if strings.HasPrefix(out, "group live: state Stable, protocol consumer/") && member.MatchString(out) {
			break
		}
		if i == 100 {
			t.Fatalf("no stable member:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	id := member.FindStringSubmatch(out)[1]
	if !regexp.MustCompile(`(?m)^busy +0 +\S+ +\d+ +\d+ +` + regexp.QuoteMeta(id) + `$`).MatchString(out) {
		t.Fatalf("partition 0 not shown as owned by %s:\n%s", id, out)
	}
	if out := e.must("", "groups", "list"); out != "GROUP  STATE   TYPE\nlive   Stable  consumer\n" {
		t.Fatalf("list:\n%s", out)
	}
	if _, _, err := e.run("", "groups", "delete", "live"); err == nil || !strings.Contains(err.Error(), "NON_EMPTY_GROUP") {
		t.Fatalf("delete an active group: %v", err)
	}
	for i := 0; len(strings.Fields(cons.stdout.String())) < 3; i++ {
		if i == 100 {
			t.Fatalf("the member printed only:\n%s", cons.stdout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cons.cancel()
	if err := cons.wait(t); err != nil {
		t.Fatal(err)
	}
	// Interrupted, the member still commits what it printed before it leaves.
	if out := e.must("", "groups", "describe", "live"); !strings.HasSuffix(out, "total lag 0\n") {
		t.Fatalf("after the member left:\n%s", out)
	}
}
