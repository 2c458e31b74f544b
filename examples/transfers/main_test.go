package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// want is the program's output but for the lines that change from run to run: the
// broker's address and the number of transaction markers. run already fails when the
// balances differ from its own sequential computation; pinning them here also catches
// a change of the sample or of the rule that makes both sides wrong alike.
const want = `produced 400 transfers between 8 accounts opening with 1000 each
347 accepted, 53 rejected (over the payer's opening balance)

account  balance expected
ada          855      855
bob          734      734
cy          1386     1386
dee          843      843
eve          940      940
fay          880      880
gus         1113     1113
hal         1249     1249
total       8000     8000

read_committed: 694 balance updates, one debit and one credit per accepted transfer, none twice
money conserved: 8000 = 8 accounts x 1000, and every balance is as expected
`

var (
	brokerLine  = regexp.MustCompile(`^broker listening on 127\.0\.0\.1:\d+$`)
	markersLine = regexp.MustCompile(`^transactions: balance-updates also holds [1-9]\d* commit markers, one per transaction and partition$`)
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	var rest strings.Builder
	var sawBroker, sawMarkers bool
	for line := range strings.Lines(out.String()) {
		switch l := strings.TrimSuffix(line, "\n"); {
		case brokerLine.MatchString(l):
			sawBroker = true
		case markersLine.MatchString(l): // run fails by itself when there are none
			sawMarkers = true
		default:
			rest.WriteString(line)
		}
	}
	if !sawBroker || !sawMarkers {
		t.Errorf("missing the broker or the transactions line in:\n%s", out.String())
	}
	if rest.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", rest.String(), want)
	}
}
