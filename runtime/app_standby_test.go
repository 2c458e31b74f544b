package runtime_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-io/eddy/runtime"
)

// tailListener sums, per changelog partition, the records restored since it was
// armed.
type tailListener struct {
	mu       sync.Mutex
	armed    bool
	restored map[runtime.TopicPartition]int64
	started  map[runtime.TopicPartition]bool
}

func (l *tailListener) OnRestoreStart(tp runtime.TopicPartition, _ string, _, _ int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.armed {
		l.started[tp] = true
	}
}

func (l *tailListener) OnBatchRestored(tp runtime.TopicPartition, _ string, _ int64, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.armed {
		l.restored[tp] += int64(n)
	}
}

func (*tailListener) OnRestoreEnd(runtime.TopicPartition, string, int64) {}

func (l *tailListener) arm() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = true
}

// distinctLines returns n lines of five words each, every word new, so the counts'
// changelog grows by one record per word.
func distinctLines(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		words := make([]string, 5)
		for j := range words {
			words[j] = fmt.Sprintf("w%05d", (first+i)*5+j)
		}
		out[i] = strings.Join(words, " ")
	}
	return out
}

// standbyMap returns, from md, where each task runs and where its standbys are, by
// server.
func standbyMap(md []runtime.InstanceMetadata) (active map[runtime.TaskID]string, standby map[runtime.TaskID][]string) {
	active, standby = map[runtime.TaskID]string{}, map[runtime.TaskID][]string{}
	for _, m := range md {
		for _, id := range m.Tasks {
			active[id] = m.Server
		}
		for _, id := range m.StandbyTasks {
			standby[id] = append(standby[id], m.Server)
		}
	}
	return active, standby
}

// Three instances with one standby replica each: every stateful task has a standby
// on another instance, and when an instance leaves, its stateful tasks move to the
// instances keeping their standbys, which restore only a short tail.
func TestAppStandbyFailover(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		const parts = 3
		createTopic(t, addr, "lines", parts)
		createTopic(t, addr, "word-counts", 1)
		top := wordCount(t, false)
		var apps []*running
		listeners := map[string]*tailListener{}
		for i := range 3 {
			cfg := appConfig(t, addr, "wcs", t.TempDir())
			cfg.StandbyReplicas = 1
			cfg.ApplicationServer = fmt.Sprintf("127.0.0.1:%d", 10001+i)
			l := &tailListener{restored: map[runtime.TopicPartition]int64{}, started: map[runtime.TopicPartition]bool{}}
			cfg.RestoreListener = l
			listeners[cfg.ApplicationServer] = l
			apps = append(apps, startApp(t, top, cfg))
		}
		waitMembersWithWork(t, addr, "wcs", "lines", 3)
		first := distinctLines(0, 600)
		produce(t, addr, "lines", first...)
		waitCounts(t, addr, "word-counts", expectedCounts(first...))
		waitCaughtUp(t, addr, "wcs", "lines", "wcs-counts-repartition")

		// Every counting task (sub-topology 1) has exactly one standby, on another
		// instance; the stateless ones (sub-topology 0) have none.
		var active map[runtime.TaskID]string
		var standby map[runtime.TaskID][]string
		for deadline := time.Now().Add(appTestTimeout); ; time.Sleep(50 * time.Millisecond) {
			active, standby = standbyMap(apps[0].app.AllMetadata())
			ok := len(active) == 2*parts
			for p := range int32(parts) {
				id := runtime.TaskID{Subtopology: 1, Partition: p}
				ok = ok && len(standby[id]) == 1 && standby[id][0] != active[id]
				ok = ok && len(standby[runtime.TaskID{Subtopology: 0, Partition: p}]) == 0
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("standbys never settled: active %v, standby %v", active, standby)
			}
		}
		ends := changelogEnds(t, adminClient(t, addr), "wcs-counts-changelog")
		// Standbys poll every 200ms at most; give them time to apply the changelog.
		time.Sleep(time.Second)

		victim := active[runtime.TaskID{Subtopology: 1, Partition: 0}]
		moved := map[runtime.TaskID]string{}
		for id, server := range active {
			if server == victim && id.Subtopology == 1 {
				moved[id] = standby[id][0]
			}
		}
		for _, l := range listeners {
			l.arm()
		}
		var survivor *running
		for i, r := range apps {
			if fmt.Sprintf("127.0.0.1:%d", 10001+i) == victim {
				if err := r.close(t); err != nil {
					t.Fatal(err)
				}
			} else {
				survivor = r
			}
		}
		second := lines(0, 30)
		produce(t, addr, "lines", second...)
		waitCounts(t, addr, "word-counts", expectedCounts(append(first, second...)...))

		after, _ := standbyMap(survivor.app.AllMetadata())
		for id, to := range moved {
			if after[id] != to {
				t.Errorf("task %s moved to %q, want %q which kept its standby", id, after[id], to)
			}
			tp := runtime.TopicPartition{Topic: "wcs-counts-changelog", Partition: id.Partition}
			l := listeners[to]
			l.mu.Lock()
			restored := l.restored[tp]
			l.mu.Unlock()
			t.Logf("task %s: changelog of %d records, %d restored on failover", id, ends[id.Partition], restored)
			if ends[id.Partition] < 500 || restored*10 > ends[id.Partition] {
				t.Errorf("task %s restored %d records of a changelog of %d: want a short tail", id, restored, ends[id.Partition])
			}
		}
	})
}
