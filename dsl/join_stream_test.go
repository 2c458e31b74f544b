package dsl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// at is an expected output record: key, value and timestamp in milliseconds.
type at struct {
	key, value string
	ts         int64
}

func (a at) String() string { return fmt.Sprintf("%s=%s@%d", a.key, a.value, a.ts) }

// joinRig is a join of topic "l" with topic "r" written to "out", all string-keyed and
// string-valued.
type joinRig struct {
	l, r *testdriver.InputTopic[string, string]
	out  *testdriver.OutputTopic[string, string]
	d    *testdriver.Driver
}

func newJoinRig(t *testing.T, build func(b *dsl.Builder, l, r dsl.Stream[string, string]) dsl.Stream[string, string]) *joinRig {
	t.Helper()
	b := dsl.NewBuilder()
	build(b, b.Stream("l", strs), b.Stream("r", strs)).To("out", dsl.Produced[string, string]{Values: str})
	d := newDriver(t, b, testdriver.Config{})
	return &joinRig{l: input(t, d, "l", str, str), r: input(t, d, "r", str, str), out: output(t, d, "out", str, str), d: d}
}

// pipeAt pipes key=value at ts milliseconds.
func pipeAt(t *testing.T, in *testdriver.InputTopic[string, string], key, value string, ts int64) {
	t.Helper()
	if err := in.PipeInputAt(key, value, time.UnixMilli(ts)); err != nil {
		t.Fatal(err)
	}
}

// expectAt reads every unread record of out and compares keys, values and timestamps.
func expectAt(t *testing.T, out *testdriver.OutputTopic[string, string], want ...at) {
	t.Helper()
	recs, err := out.ReadRecordsToList()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]at, len(recs))
	for i, r := range recs {
		got[i] = at{r.Key, r.Value, r.Timestamp}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func joinValues(l, r string) string { return l + "+" + r }

func leftValues(l string, r *string) string {
	if r == nil {
		return l + "+null"
	}
	return l + "+" + *r
}

func outerValues(l, r *string) string {
	deref := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	return deref(l) + "+" + deref(r)
}

func innerRig(t *testing.T, w dsl.JoinWindows) *joinRig {
	return newJoinRig(t, func(_ *dsl.Builder, l, r dsl.Stream[string, string]) dsl.Stream[string, string] {
		return l.Join(r, joinValues, w)
	})
}

func leftRig(t *testing.T, w dsl.JoinWindows) *joinRig {
	return newJoinRig(t, func(_ *dsl.Builder, l, r dsl.Stream[string, string]) dsl.Stream[string, string] {
		return l.LeftJoin(r, leftValues, w)
	})
}

func outerRig(t *testing.T, w dsl.JoinWindows) *joinRig {
	return newJoinRig(t, func(_ *dsl.Builder, l, r dsl.Stream[string, string]) dsl.Stream[string, string] {
		return l.OuterJoin(r, outerValues, w)
	})
}

// TestStreamJoinWindowEdges checks KStream-KStream join windows: a left record at t
// joins right records of its key with timestamps in [t-before, t+after], both ends
// inclusive, and the result carries the larger timestamp.
func TestStreamJoinWindowEdges(t *testing.T) {
	g := innerRig(t, dsl.JoinWindowsOf(10*time.Millisecond).Grace(time.Hour))
	pipeAt(t, g.l, "a", "L", 100)
	pipeAt(t, g.r, "a", "r89", 89)   // before the window
	pipeAt(t, g.r, "a", "r90", 90)   // lower edge
	pipeAt(t, g.r, "a", "r110", 110) // upper edge
	pipeAt(t, g.r, "a", "r111", 111) // after the window
	pipeAt(t, g.r, "b", "r100", 100) // another key
	expectAt(t, g.out, at{"a", "L+r90", 100}, at{"a", "L+r110", 110})
}

// TestStreamJoinBothSidesTrigger checks that either side's arrival triggers the
// join, and that a later left record joins every earlier right record in its window.
func TestStreamJoinBothSidesTrigger(t *testing.T) {
	g := innerRig(t, dsl.JoinWindowsOf(10*time.Millisecond))
	pipeAt(t, g.r, "a", "r1", 100)
	pipeAt(t, g.r, "a", "r2", 101)
	pipeAt(t, g.l, "a", "L", 102)
	pipeAt(t, g.r, "a", "r3", 103)
	expectAt(t, g.out, at{"a", "L+r1", 102}, at{"a", "L+r2", 102}, at{"a", "L+r3", 103})
}

// TestStreamJoinAsymmetricWindow checks JoinWindows.before and after: with before 10
// and after 0, a left record joins right records up to 10 earlier and none later; a
// right record so joins left records up to 10 later.
func TestStreamJoinAsymmetricWindow(t *testing.T) {
	g := innerRig(t, dsl.JoinWindowsOf(0).Before(10*time.Millisecond).Grace(time.Hour))
	pipeAt(t, g.l, "a", "L100", 100)
	pipeAt(t, g.r, "a", "r95", 95)   // 5 before the left record: joins
	pipeAt(t, g.r, "a", "r105", 105) // 5 after: outside
	pipeAt(t, g.r, "b", "r200", 200)
	pipeAt(t, g.l, "b", "L210", 210) // right record 10 before: joins
	pipeAt(t, g.l, "b", "L199", 199) // right record after it: outside
	expectAt(t, g.out, at{"a", "L100+r95", 100}, at{"b", "L210+r200", 210})
}

// TestStreamJoinOutOfOrder checks that an out-of-order record still joins while its
// window is open: here within the window itself, with no grace.
func TestStreamJoinOutOfOrder(t *testing.T) {
	g := innerRig(t, dsl.JoinWindowsOf(10*time.Millisecond))
	pipeAt(t, g.l, "a", "L", 100)
	pipeAt(t, g.r, "a", "r95", 95)
	expectAt(t, g.out, at{"a", "L+r95", 100})
}

// TestStreamJoinLateDropped checks that a record arriving after its window closed
// (stream time past its timestamp + window + grace) is dropped and joins nothing.
func TestStreamJoinLateDropped(t *testing.T) {
	g := innerRig(t, dsl.JoinWindowsOf(10*time.Millisecond).Grace(5*time.Millisecond))
	pipeAt(t, g.l, "a", "L", 100)
	pipeAt(t, g.l, "z", "Z", 200) // stream time 200
	pipeAt(t, g.r, "a", "late", 100)
	pipeAt(t, g.l, "y", "Y", 215)
	pipeAt(t, g.r, "y", "r205", 205) // 205+10+5 = 220: still open
	expectAt(t, g.out, at{"y", "Y+r205", 215})
}

// TestStreamLeftJoinNoSpuriousResult checks Kafka 3.1's left join (KAFKA-10847): a
// left record without a match is held until its window closes, so a later match
// produces only the joined result, and an unmatched one is emitted once stream time
// passes its timestamp + after + grace, with its own timestamp.
func TestStreamLeftJoinNoSpuriousResult(t *testing.T) {
	g := leftRig(t, dsl.JoinWindowsOf(10*time.Millisecond))
	pipeAt(t, g.l, "a", "La", 100)
	expectAt(t, g.out) // nothing yet: a match may come
	pipeAt(t, g.r, "a", "ra", 105)
	pipeAt(t, g.l, "b", "Lb", 106)
	expectAt(t, g.out, at{"a", "La+ra", 105})
	pipeAt(t, g.l, "c", "Lc", 116) // 106+10 = 116 is not past: b still open
	expectAt(t, g.out)
	pipeAt(t, g.l, "c", "Lc2", 117) // now b's window has closed; a joined, so stays silent
	expectAt(t, g.out, at{"b", "Lb+null", 106})
	pipeAt(t, g.r, "x", "rx", 200) // right records alone are never emitted by a left join
	expectAt(t, g.out, at{"c", "Lc+null", 116}, at{"c", "Lc2+null", 117})
}

// TestStreamLeftJoinGrace checks KIP-633's grace: an unmatched left record is held
// until stream time passes t + after + grace, so an out-of-order right record within
// grace still joins it and no unmatched result is emitted.
func TestStreamLeftJoinGrace(t *testing.T) {
	g := leftRig(t, dsl.JoinWindowsOf(10*time.Millisecond).Grace(5*time.Millisecond))
	pipeAt(t, g.l, "b", "Lb", 100)
	pipeAt(t, g.l, "c", "Lc", 114) // b's window ended at 110 but grace holds it to 115
	expectAt(t, g.out)
	pipeAt(t, g.r, "b", "rb", 108) // out of order, joins b
	expectAt(t, g.out, at{"b", "Lb+rb", 108})
	pipeAt(t, g.l, "d", "Ld", 200)
	expectAt(t, g.out, at{"c", "Lc+null", 114})
}

// TestStreamLeftJoinDuplicates checks that records of one key and timestamp are all
// kept: both join a later right record, and neither is then emitted unmatched.
func TestStreamLeftJoinDuplicates(t *testing.T) {
	g := leftRig(t, dsl.JoinWindowsOf(10*time.Millisecond))
	pipeAt(t, g.l, "a", "L1", 100)
	pipeAt(t, g.l, "a", "L2", 100)
	pipeAt(t, g.l, "b", "Lb", 100)
	pipeAt(t, g.r, "a", "r", 101)
	pipeAt(t, g.l, "z", "Z", 300)
	expectAt(t, g.out, at{"a", "L1+r", 101}, at{"a", "L2+r", 101}, at{"b", "Lb+null", 100})
}

// TestStreamOuterJoinEmitsOnClose checks the outer join: unmatched records of either
// side are emitted with nil for the other once their window closes, in timestamp
// order; a left record's window closes at t + after + grace, a right record's at
// t + before + grace.
func TestStreamOuterJoinEmitsOnClose(t *testing.T) {
	g := outerRig(t, dsl.JoinWindowsOf(0).Before(20*time.Millisecond).After(5*time.Millisecond))
	pipeAt(t, g.r, "b", "rb", 100) // open until stream time 120
	pipeAt(t, g.l, "a", "La", 101) // open until 106
	pipeAt(t, g.l, "c", "Lc", 102)
	pipeAt(t, g.r, "c", "rc", 103) // joins Lc: 103 is within [82, 107]
	expectAt(t, g.out, at{"c", "Lc+rc", 103})
	pipeAt(t, g.l, "z", "Lz", 107)
	expectAt(t, g.out, at{"a", "La+null", 101})
	pipeAt(t, g.r, "z", "rz", 110) // joins Lz: 110 is within [87, 112]
	expectAt(t, g.out, at{"z", "Lz+rz", 110})
	pipeAt(t, g.r, "y", "ry", 200) // closes b (100 + 20 < 200); Lz joined, so stays silent
	expectAt(t, g.out, at{"b", "null+rb", 100})
	pipeAt(t, g.l, "x", "Lx", 300)
	expectAt(t, g.out, at{"y", "null+ry", 200})
}

// TestStreamJoinOpenWindowsOnly checks where eddy does better than Kafka Streams on
// purpose: once a left record was emitted without a match, a right record that would
// fall in its window (before > after, accepted since its own window is open) does not
// join it, so no joined result contradicts the unmatched one.
func TestStreamJoinOpenWindowsOnly(t *testing.T) {
	g := leftRig(t, dsl.JoinWindowsOf(0).Before(20*time.Millisecond).After(5*time.Millisecond))
	pipeAt(t, g.l, "a", "La", 100)
	pipeAt(t, g.r, "z", "rz", 110) // a closed (100+5 < 110)
	expectAt(t, g.out, at{"a", "La+null", 100})
	pipeAt(t, g.r, "a", "ra", 102) // open until 122, in La's window, but La is closed
	expectAt(t, g.out)
}

// TestStreamJoinRepartitions checks that a join input whose key changed upstream is
// repartitioned first, through "<app-id>-<name>-left-repartition", and that the stores
// are named by StreamJoined.StoreName.
func TestStreamJoinRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	l := b.Stream("l", strs).SelectKey(func(_, v string) string { return strings.ToLower(v[:1]) })
	l.Join(b.Stream("r", strs), joinValues, dsl.JoinWindowsOf(time.Second), dsl.StreamJoined[string, string, string]{Name: "j", StoreName: "s"}).
		To("out")
	top := mustBuild(t, b)
	desc := top.Describe().String()
	for _, want := range []string{"j-left-repartition", "s-this-join-store", "s-other-join-store", "j-this-join", "j-other-join", "j-merge"} {
		if !strings.Contains(desc, want) {
			t.Errorf("topology lacks %q:\n%s", want, desc)
		}
	}
	if strings.Contains(desc, "j-right-repartition") || strings.Contains(desc, "outer-shared") {
		t.Errorf("unexpected repartition or outer store:\n%s", desc)
	}
	d, err := testdriver.New(top, testdriver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	lin, rin, out := input(t, d, "l", str, str), input(t, d, "r", str, str), output(t, d, "out", str, str)
	pipeAt(t, rin, "a", "ra", 100)
	pipeAt(t, lin, "x", "Apple", 100)
	expectAt(t, out, at{"a", "Apple+ra", 100})
	if _, err := d.GetStore[*state.WindowStore[string, string]]("s-this-join-store", 0); err != nil {
		t.Fatal(err)
	}
}

// TestStreamJoinOptionErrors checks Build errors: negative windows and unknown serdes.
func TestStreamJoinOptionErrors(t *testing.T) {
	b := dsl.NewBuilder()
	l, r := b.Stream("l", strs), b.Stream("r", strs)
	l.Join(r, joinValues, dsl.JoinWindowsOf(-time.Second)).To("out")
	if _, err := b.Build(); !errors.Is(err, dsl.ErrInvalidOption) {
		t.Fatalf("negative window: got %v", err)
	}
	b = dsl.NewBuilder()
	l = b.Stream("l", strs)
	m := b.Stream("r", strs).MapValues(func(s string) int { return len(s) })
	l.Join(m, func(a string, n int) string { return a }, dsl.JoinWindowsOf(time.Second)).To("out")
	if _, err := b.Build(); !errors.Is(err, dsl.ErrSerdeRequired) {
		t.Fatalf("unknown serde: got %v", err)
	}
	b = dsl.NewBuilder()
	l = b.Stream("l", strs)
	m = b.Stream("r", strs).MapValues(func(s string) int { return len(s) })
	l.Join(m, func(a string, n int) string { return a }, dsl.JoinWindowsOf(time.Second),
		dsl.StreamJoined[string, string, int]{OtherValues: serde.JSON[int]()}).To("out")
	mustBuild(t, b)
}
