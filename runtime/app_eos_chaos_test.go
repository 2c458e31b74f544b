package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// The chaos tests run an exactly-once job over 100,000 input records on the bundled
// broker while two instances (two threads each, in subprocesses) are killed with
// SIGKILL again and again and restarted on their state directories, and, in the last
// one, while the broker itself is killed and restarted on its data directory. The
// read_committed output must hold every expected record exactly once, and the state
// must end as the input says.

// chaosChildEnv makes TestEOSChaosChild run a chaos test's subprocess:
// "broker|addr|dataDir" or "app|job|addr|appID|stateDir".
const chaosChildEnv = "EDDY_EOS_CHAOS_CHILD"

// chaosRecords is how many input records each chaos test produces.
const chaosRecords = 100_000

// chaosChildBound ends a subprocess whose parent did not.
const chaosChildBound = 5 * time.Minute

// TestEOSChaosChild is a chaos test's subprocess: a broker or an application
// instance, running until it is killed, its stdin closes (the parent is gone) or a
// bound passes.
func TestEOSChaosChild(t *testing.T) {
	spec := os.Getenv(chaosChildEnv)
	if spec == "" {
		t.Skip("runs only as a chaos test's subprocess")
	}
	ctx, cancel := context.WithTimeout(context.Background(), chaosChildBound)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	parts := strings.Split(spec, "|")
	switch parts[0] {
	case "broker":
		b, err := broker.New(chaosBrokerConfig(parts[1], parts[2]))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done()
		_ = b.Close()
	case "app":
		job, addr, appID, dir := parts[1], parts[2], parts[3], parts[4]
		cfg := eosConfig(t, addr, appID, dir)
		cfg.Threads = 2
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		// The group drops a killed member soon, so its restarted successor and the
		// survivor get its tasks.
		cfg.ClientOptions = append(cfg.ClientOptions, kgo.SessionTimeout(2*time.Second), kgo.RebalanceTimeout(10*time.Second))
		if os.Getenv("EDDY_CHAOS_KGO_LOG") != "" {
			cfg.ClientOptions = append(cfg.ClientOptions, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
		}
		top := wordCount(t, false)
		if job == "transfers" {
			top = transfers(t, nil)
		}
		app, err := runtime.New(top, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if err := app.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown chaos child %q", spec)
	}
}

// chaosBrokerConfig is the broker of the chaos tests: groups rebalance at once and
// accept the members' short session timeouts.
func chaosBrokerConfig(addr, dir string) broker.Config {
	return broker.Config{
		DataDir:                    dir,
		Listen:                     addr,
		GroupInitialRebalanceDelay: -1,
		GroupMinSessionTimeout:     500 * time.Millisecond,
		Logger:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// chaosChild is one subprocess, started again after each kill with the same spec.
type chaosChild struct {
	name string
	spec string
	log  string // its output, appended to across restarts

	mu       sync.Mutex
	cmd      *exec.Cmd
	stdin    io.Closer // held open: the child stops when it closes, as when the test dies
	done     chan struct{}
	killed   bool  // the running process was killed by the test
	exitErr  error // set when a process exited on its own
	restarts int
}

func newChaosChild(t *testing.T, name, spec string) *chaosChild {
	dir := os.Getenv("EDDY_CHAOS_LOG_DIR") // keeps the subprocesses' logs
	if dir == "" {
		dir = t.TempDir()
	}
	c := &chaosChild{name: name, spec: spec, log: filepath.Join(dir, name+".log")}
	c.start(t)
	t.Cleanup(func() {
		c.kill(t)
		if t.Failed() {
			c.dumpLog(t)
		}
	})
	return c
}

// start runs the subprocess; it must not be running.
func (c *chaosChild) start(t *testing.T) {
	t.Helper()
	out, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(out, "=== start %d at %s\n", c.restarts, time.Now().Format(time.StampMilli))
	cmd := exec.Command(os.Args[0], "-test.run=^TestEOSChaosChild$", "-test.v")
	cmd.Env = append(os.Environ(), chaosChildEnv+"="+c.spec)
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.stdin, c.done, c.killed = cmd, stdin, done, false
	c.restarts++
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		c.mu.Lock()
		if !c.killed && c.exitErr == nil {
			c.exitErr = fmt.Errorf("%s exited by itself: %v", c.name, err)
		}
		c.mu.Unlock()
		close(done)
	}()
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *chaosChild) kill(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.killed = true
	c.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill %s: %v", c.name, err)
	}
	<-done
}

// failed returns why a process of c exited without being killed, if one did.
func (c *chaosChild) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exitErr
}

// dumpLog logs the last lines of c's output worth reading.
func (c *chaosChild) dumpLog(t *testing.T) {
	raw, err := os.ReadFile(c.log)
	if err != nil {
		t.Logf("%s: %v", c.name, err)
		return
	}
	var keep []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "level=INFO") && !strings.Contains(line, "transaction") && !strings.Contains(line, "rewind") {
			continue
		}
		keep = append(keep, line)
	}
	if len(keep) > 80 {
		keep = keep[len(keep)-80:]
	}
	t.Logf("%s (%d starts), last lines of its output:\n%s", c.name, c.restarts, strings.Join(keep, "\n"))
}

// logSummary logs how often the instances met the failures they recover from, as
// their logs tell.
func (r *chaosRun) logSummary() {
	events := []string{"transaction failed", "the tasks start again", "transaction aborted; rewinding", "restoring a task failed", "partitions lost", "restoring store"}
	counts := make([]int, len(events))
	for _, c := range r.instances {
		raw, err := os.ReadFile(c.log)
		if err != nil {
			continue
		}
		for i, e := range events {
			counts[i] += bytes.Count(raw, []byte(e))
		}
	}
	var parts []string
	for i, e := range events {
		parts = append(parts, fmt.Sprintf("%q %d", e, counts[i]))
	}
	r.t.Logf("instance logs: %s", strings.Join(parts, ", "))
}

// chaosPlan says what a chaos run does to its processes.
type chaosPlan struct {
	appKills    bool // kill the application instances again and again
	brokerKills int  // kill the broker this many times during the input, for up to 3s
}

// chaosRun is one chaos test: its broker, instances and input.
type chaosRun struct {
	t         *testing.T
	addr      string
	job       string
	appID     string
	dirs      []string
	instances []*chaosChild
	broker    *chaosChild // nil when the broker runs in-process
	rng       *rand.Rand
	kills     int
}

// newChaosRun starts the broker (a subprocess when the plan kills it) and creates
// the job's topics.
func newChaosRun(t *testing.T, job string, plan chaosPlan, topics map[string]int32) *chaosRun {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := &chaosRun{t: t, job: job, appID: "chaos-" + job, rng: rand.New(rand.NewPCG(seed, 1))}
	if plan.brokerKills > 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.addr = l.Addr().String()
		_ = l.Close()
		r.broker = newChaosChild(t, "broker", "broker|"+r.addr+"|"+t.TempDir())
		waitReachable(t, r.addr)
	} else {
		b, err := broker.New(chaosBrokerConfig("127.0.0.1:0", t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		r.addr = b.Addr()
	}
	for _, topic := range slices.Sorted(maps.Keys(topics)) {
		createTopic(t, r.addr, topic, topics[topic])
	}
	for i := range 2 {
		dir := t.TempDir()
		r.dirs = append(r.dirs, dir)
		r.instances = append(r.instances, newChaosChild(t, fmt.Sprintf("instance-%d", i), "app|"+job+"|"+r.addr+"|"+r.appID+"|"+dir))
	}
	return r
}

// waitReachable waits until something accepts connections on addr.
func waitReachable(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run produces recs to topic in paced batches while it follows plan, then stops the
// chaos and leaves both instances running.
func (r *chaosRun) run(topic string, recs []*kgo.Record, plan chaosPlan) {
	t := r.t
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const batches = 100
	per := (len(recs) + batches - 1) / batches
	produced := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for i := 0; i < len(recs); i += per {
			if err := cl.ProduceSync(ctx, recs[i:min(i+per, len(recs))]...).FirstErr(); err != nil {
				produced <- fmt.Errorf("produce input: %w", err)
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
		produced <- nil
	}()
	// The broker's kills spread over the input's expected span, about 20s.
	var brokerAt []time.Duration
	for i := range plan.brokerKills {
		span := 18 * time.Second / time.Duration(plan.brokerKills)
		brokerAt = append(brokerAt, time.Duration(i)*span+2*time.Second+time.Duration(r.rng.Int64N(int64(span/2))))
	}
	nextAppKill := time.Now().Add(r.appKillGap())
	for {
		select {
		case err := <-produced:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("input produced in %v; %d instance kills, %d broker kills", time.Since(start).Round(time.Millisecond), r.kills, plan.brokerKills-len(brokerAt))
			return
		case <-time.After(50 * time.Millisecond):
		}
		r.checkAlive()
		if len(brokerAt) > 0 && time.Since(start) >= brokerAt[0] {
			brokerAt = brokerAt[1:]
			r.broker.kill(t)
			time.Sleep(200*time.Millisecond + time.Duration(r.rng.Int64N(int64(2800*time.Millisecond))))
			r.broker.start(t)
			waitReachable(t, r.addr)
		}
		if plan.appKills && time.Now().After(nextAppKill) {
			r.killInstances()
			nextAppKill = time.Now().Add(r.appKillGap())
		}
	}
}

// appKillGap is a random time until the next kill of an instance: short enough for
// some kills to land while a restarted instance restores or the group rebalances.
func (r *chaosRun) appKillGap() time.Duration {
	return 500*time.Millisecond + time.Duration(r.rng.Int64N(int64(3*time.Second)))
}

// killInstances kills one instance, or now and then both, and restarts them after a
// random pause.
func (r *chaosRun) killInstances() {
	victims := []*chaosChild{r.instances[r.rng.IntN(len(r.instances))]}
	if r.rng.IntN(5) == 0 {
		victims = r.instances
	}
	for _, c := range victims {
		c.kill(r.t)
		r.kills++
	}
	time.Sleep(time.Duration(r.rng.Int64N(int64(500 * time.Millisecond))))
	for _, c := range victims {
		c.start(r.t)
	}
}

// checkAlive fails the test if a process exited without being killed: the instances
// must survive everything but their own kill.
func (r *chaosRun) checkAlive() {
	for _, c := range append(slices.Clone(r.instances), r.broker) {
		if c == nil {
			continue
		}
		if err := c.failed(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// readCommitted reads topic with read_committed until done holds for what it read or
// d passes, then reads on for settle so a late duplicate would show.
func (r *chaosRun) readCommitted(topic string, d, settle time.Duration, done func([]*kgo.Record) bool, describe func([]*kgo.Record) string) []*kgo.Record {
	t := r.t
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	lastLog := time.Now()
	for !done(recs) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("output incomplete after %v: %s", d, describe(recs))
		}
		fetches.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
		r.checkAlive()
		if time.Since(lastLog) > 10*time.Second {
			t.Logf("reading output: %s", describe(recs))
			lastLog = time.Now()
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), settle)
	defer scancel()
	for sctx.Err() == nil {
		cl.PollFetches(sctx).EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
	}
	return recs
}

// finalStore kills the instances and starts one in-process on the first state
// directory, which takes every task, restores what it lacks, and serves queries.
func (r *chaosRun) finalStore(top *runtime.Topology) *runtime.App {
	for _, c := range r.instances {
		c.kill(r.t)
	}
	r.logSummary()
	cfg := eosConfig(r.t, r.addr, r.appID, r.dirs[0])
	return startApp(r.t, top, cfg).app
}

// chaosTransfers makes n transfers between accounts, each moving a different amount
// (its index + 1), so every balance change names the transfer leg it comes from.
func chaosTransfers(n int) (recs []*kgo.Record, values []string) {
	const accounts = 50
	for i := range n {
		a, b := i*7%accounts, (i*13+5)%accounts
		if a == b {
			b = (b + 1) % accounts
		}
		v := fmt.Sprintf("acct%02d,acct%02d,%d", a, b, i+1)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "t%06d", i), Value: []byte(v)})
	}
	return recs, values
}

// The balance job under SIGKILLs of its instances: every leg of every transfer
// changes its account's balance exactly once in the committed output, and the
// balances are the sums of the transfers.
func TestEOSChaosTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	t.Parallel() // mostly waiting on the paced input
	testChaosTransfers(t, chaosPlan{appKills: true})
}

// The balance job while the broker is killed with SIGKILL and restarted on the
// same address and data directory, and its instances are killed too: the instances
// ride out the broker's outages, and every transfer leg counts once.
func TestEOSChaosBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	t.Parallel() // mostly waiting on the paced input
	testChaosTransfers(t, chaosPlan{appKills: true, brokerKills: 3})
}

func testChaosTransfers(t *testing.T, plan chaosPlan) {
	r := newChaosRun(t, "transfers", plan, map[string]int32{"transfers": 4, "balances": 2})
	recs, values := chaosTransfers(chaosRecords)
	r.run("transfers", recs, plan)
	legs := 2 * len(values)
	out := r.readCommitted("balances", 90*time.Second, time.Second,
		func(recs []*kgo.Record) bool { return len(recs) >= legs },
		func(recs []*kgo.Record) string { return fmt.Sprintf("%d balance changes of %d", len(recs), legs) })
	want := expectedDeltas(values)
	got, last := balanceDeltas(t, out)
	for _, acct := range slices.Sorted(maps.Keys(want)) {
		if g, w := got[acct], want[acct]; !slices.Equal(g, w) {
			extra, missing := multisetDiff(g, w)
			t.Errorf("account %s: %d changes, want %d; not expected %v, missing %v", acct, len(g), len(w), head(extra), head(missing))
		}
	}
	if len(out) != legs {
		t.Fatalf("read %d balance changes, want one per transfer leg: %d", len(out), legs)
	}
	balances := map[string]int64{}
	for _, v := range values {
		from, to, amount, _ := parseTransfer(v)
		balances[from] -= amount
		balances[to] += amount
	}
	if !maps.Equal(last, balances) {
		t.Fatalf("last balances in the output %v, want %v", last, balances)
	}
	checkStore(t, r.finalStore(transfers(t, nil)), values)
}

// multisetDiff returns what sorted got has beyond sorted want, and what it lacks.
func multisetDiff(got, want []int64) (extra, missing []int64) {
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return extra, missing
}

// head returns at most the first ten of s.
func head(s []int64) []int64 { return s[:min(len(s), 10)] }

// chaosLines makes n lines of two words from a vocabulary of 1,000.
func chaosLines(n int) (recs []*kgo.Record, lines []string) {
	for i := range n {
		line := fmt.Sprintf("w%03d w%03d", i*7%1000, (i*31+11)%997)
		lines = append(lines, line)
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "l%06d", i), Value: []byte(line)})
	}
	return recs, lines
}

// The word count under SIGKILLs of its instances: each word's committed counts go
// 1, 2, ... n, none twice and none skipped, and the store ends with the counts.
func TestEOSChaosWordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	t.Parallel() // mostly waiting on the paced input
	plan := chaosPlan{appKills: true}
	r := newChaosRun(t, "words", plan, map[string]int32{"lines": 4, "word-counts": 2})
	recs, lines := chaosLines(chaosRecords)
	r.run("lines", recs, plan)
	want := expectedCounts(lines...)
	total := 0
	for _, n := range want {
		total += int(n)
	}
	out := r.readCommitted("word-counts", 90*time.Second, time.Second,
		func(recs []*kgo.Record) bool { return len(recs) >= total },
		func(recs []*kgo.Record) string { return fmt.Sprintf("%d counts of %d", len(recs), total) })
	values := serde.Nullable(serde.Int64())
	seqs := map[string][]int64{}
	for _, rec := range out {
		v, err := values.Decode(rec.Value)
		if err != nil || v == nil {
			t.Fatalf("count %q=%q: %v", rec.Key, rec.Value, err)
		}
		seqs[string(rec.Key)] = append(seqs[string(rec.Key)], *v)
	}
	bad := 0
	for _, w := range slices.Sorted(maps.Keys(want)) {
		seq, n := seqs[w], want[w]
		ok := int64(len(seq)) == n
		for i, v := range seq {
			ok = ok && v == int64(i+1)
		}
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("word %q: %d counts, want 1..%d; first wrong at %d", w, len(seq), n, firstWrong(seq))
			}
		}
	}
	if bad > 0 || len(out) != total {
		t.Fatalf("%d words with wrong counts; read %d counts, want %d", bad, len(out), total)
	}
	app := r.finalStore(wordCount(t, false))
	got := map[string]int64{}
	for deadline := time.Now().Add(appTestTimeout); ; time.Sleep(50 * time.Millisecond) {
		err := readStore(app, "counts", got)
		if err == nil && maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store counts: %v; %d words, want %d", err, len(got), len(want))
		}
	}
}

// firstWrong returns the index of the first count of seq that is not its index + 1.
func firstWrong(seq []int64) int {
	for i, v := range seq {
		if v != int64(i+1) {
			return i
		}
	}
	return len(seq)
}

// readStore reads every entry of key-value store name of app into into.
func readStore(app *runtime.App, name string, into map[string]int64) error {
	store, err := app.QueryKeyValueStore[string, int64](name, serde.String())
	if err != nil {
		return err
	}
	it, err := store.All()
	if err != nil {
		return err
	}
	clear(into)
	for it.Next() {
		into[it.Key()] = it.Value()
	}
	return errors.Join(it.Err(), it.Close())
}
