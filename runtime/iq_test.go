package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// queryInstance is a running app with its query endpoint.
type queryInstance struct {
	*running
	url string
}

// startQueryInstance runs top as an instance of appID whose ApplicationServer is the
// address of its query endpoint, which serves store "counts".
func startQueryInstance(t *testing.T, top *runtime.Topology, addr, appID string) *queryInstance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := appConfig(t, addr, appID, t.TempDir())
	cfg.ApplicationServer = ln.Addr().String()
	r := startApp(t, top, cfg)
	h := runtime.NewQueryHandler(r.app, runtime.QueryOptions{})
	if err := runtime.RegisterKeyValueQuery[string, int64](h, "counts", serde.String(), func(s string) (string, error) { return s, nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &queryInstance{running: r, url: "http://" + ln.Addr().String()}
}

// httpGet returns the status and body of GET url, with header set when not empty.
func httpGet(url, header string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if header != "" {
		req.Header.Set(runtime.ForwardedHeader, header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// eventually retries check until it returns nil, failing with its last error after
// appTestTimeout.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(appTestTimeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOwners checks that both instances name the same owner of every word, one of
// them, and that the owner's typed store has the word's count while the other's
// says the key is not local.
func checkOwners(insts []*queryInstance, want map[string]int64) error {
	byServer := map[string]*queryInstance{}
	for _, in := range insts {
		byServer[in.url[len("http://"):]] = in
	}
	for w, n := range want {
		var owners []runtime.HostInfo
		for _, in := range insts {
			o, err := in.app.KeyOwner("counts", w, serde.String())
			if err != nil {
				return fmt.Errorf("KeyOwner(%q): %w", w, err)
			}
			owners = append(owners, o)
		}
		if owners[0] != owners[1] {
			return fmt.Errorf("owners of %q disagree: %v", w, owners)
		}
		owner := byServer[owners[0].String()]
		if owner == nil {
			return fmt.Errorf("owner of %q is %v, not an instance", w, owners[0])
		}
		for _, in := range insts {
			s, err := in.app.QueryKeyValueStore[string, int64]("counts", serde.String())
			if err != nil {
				return err
			}
			got, found, err := s.Get(w)
			switch {
			case in == owner && (err != nil || !found || got != n):
				return fmt.Errorf("owner Get(%q) = %d, %v, %v; want %d", w, got, found, err, n)
			case in != owner && !errors.Is(err, runtime.ErrKeyNotLocal):
				return fmt.Errorf("non-owner Get(%q) = %d, %v, %v; want ErrKeyNotLocal", w, got, found, err)
			}
		}
	}
	return nil
}

// checkHTTP checks every word's count through both endpoints, and that their
// ranges together hold every count, each in key order.
func checkHTTP(insts []*queryInstance, want map[string]int64) error {
	for _, in := range insts {
		for w, n := range want {
			status, body, err := httpGet(in.url+"/stores/counts/keys/"+w, "")
			if err != nil {
				return err
			}
			var e struct {
				Key   string `json:"key"`
				Value int64  `json:"value"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &e) != nil || e.Key != w || e.Value != n {
				return fmt.Errorf("%s key %q: %d %s, want %d", in.url, w, status, body, n)
			}
		}
	}
	union := map[string]int64{}
	for _, in := range insts {
		status, body, err := httpGet(in.url+"/stores/counts/range?from=a&to=z", "")
		if err != nil {
			return err
		}
		var r struct {
			Entries []struct {
				Key   string `json:"key"`
				Value int64  `json:"value"`
			} `json:"entries"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &r) != nil {
			return fmt.Errorf("%s range: %d %s", in.url, status, body)
		}
		var keys []string
		for _, e := range r.Entries {
			union[e.Key] = e.Value
			keys = append(keys, e.Key)
		}
		if !slices.IsSorted(keys) {
			return fmt.Errorf("%s range not in key order: %v", in.url, keys)
		}
	}
	if !maps.Equal(union, want) {
		return fmt.Errorf("ranges of both instances: %v, want %v", union, want)
	}
	return nil
}

// queryWhileProcessing reads the stores of insts until stop is closed, so the race
// detector sees queries beside processing; unavailable stores are expected.
func queryWhileProcessing(t *testing.T, insts []*queryInstance, stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, in := range insts {
		wg.Go(func() {
			s, err := in.app.QueryKeyValueStore[string, int64]("counts", serde.String())
			if err != nil {
				t.Error(err)
				return
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := s.Get("alpha"); err != nil && !errors.Is(err, runtime.ErrStoreNotAvailable) {
					t.Errorf("Get: %v", err)
				}
				if it, err := s.All(); err == nil {
					for it.Next() {
					}
					if err := errors.Join(it.Err(), it.Close()); err != nil && !errors.Is(err, runtime.ErrStoreNotAvailable) {
						t.Errorf("All: %v", err)
					}
				}
				if _, err := s.ApproximateNumEntries(); err != nil && !errors.Is(err, runtime.ErrStoreNotAvailable) {
					t.Errorf("ApproximateNumEntries: %v", err)
				}
			}
		})
	}
	return &wg
}

func TestInteractiveQueries(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 4)
		createTopic(t, addr, "word-counts", 1)
		top := wordCount(t, false)
		insts := []*queryInstance{startQueryInstance(t, top, addr, "iq"), startQueryInstance(t, top, addr, "iq")}
		waitMembersWithWork(t, addr, "iq", "lines", 2)

		stop := make(chan struct{})
		wg := queryWhileProcessing(t, insts, stop)
		in := lines(0, 80)
		produce(t, addr, "lines", in...)
		want := expectedCounts(in...)
		waitCounts(t, addr, "word-counts", want)
		close(stop)
		wg.Wait()

		eventually(t, func() error { return checkOwners(insts, want) })
		eventually(t, func() error { return checkHTTP(insts, want) })

		// Both instances describe the same group: two hosts sharing every task.
		for _, in := range insts {
			meta := in.app.AllMetadata()
			var tasks []runtime.TaskID
			var servers []string
			for _, m := range meta {
				servers = append(servers, m.Host.String())
				tasks = append(tasks, m.Tasks...)
				if !slices.Contains(m.Stores, "counts") {
					t.Errorf("%s: metadata of %s without store counts: %+v", in.url, m.Server, m)
				}
			}
			if len(meta) != 2 || len(tasks) != 8 || !slices.Contains(servers, insts[0].url[7:]) || !slices.Contains(servers, insts[1].url[7:]) {
				t.Errorf("%s: AllMetadata %+v", in.url, meta)
			}
		}
		var total int64
		for _, in := range insts {
			s, err := in.app.QueryKeyValueStore[string, int64]("counts", serde.String())
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.ApproximateNumEntries()
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if total != int64(len(want)) {
			t.Errorf("ApproximateNumEntries sum %d, want %d", total, len(want))
		}

		// A forwarded query is never forwarded again.
		owner, err := insts[0].app.KeyOwner("counts", "alpha", serde.String())
		if err != nil {
			t.Fatal(err)
		}
		other := insts[0]
		if other.url[7:] == owner.String() {
			other = insts[1]
		}
		if status, body, err := httpGet(other.url+"/stores/counts/keys/alpha", "test"); err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("forwarded query to the non-owner: %d %s %v, want 503", status, body, err)
		}

		// Unknown stores, wrong types, missing keys, bad ranges.
		app := insts[0].app
		_, err = app.QueryKeyValueStore[string, int64]("nope", serde.String())
		errorIs(t, err, runtime.ErrStoreNotAvailable)
		errorIs(t, err, runtime.ErrUnknownStore)
		_, err = app.KeyOwner("nope", "x", serde.String())
		errorIs(t, err, runtime.ErrStoreNotAvailable)
		wrong, err := app.QueryKeyValueStore[string, string]("counts", serde.String())
		if err != nil {
			t.Fatal(err)
		}
		_, err = wrong.All()
		errorIs(t, err, runtime.ErrWrongStoreType)
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/stores/nope/keys/x", http.StatusNotFound},
			{"/stores/nope/range", http.StatusNotFound},
			{"/stores/counts/keys/zeta", http.StatusNotFound},
			{"/stores/counts/range?from=a", http.StatusBadRequest},
			{"/stores/counts/range", http.StatusOK},
			{"/metadata", http.StatusOK},
		} {
			if status, body, err := httpGet(insts[0].url+tc.path, ""); err != nil || status != tc.status {
				t.Errorf("GET %s: %d %s %v, want %d", tc.path, status, body, err, tc.status)
			}
		}
	})
}

// Before Run, and after Close, stores are not available.
func TestInteractiveQueriesNotRunning(t *testing.T) {
	cfg := runtime.Config{ApplicationID: "iq-idle", BootstrapServers: []string{"127.0.0.1:1"}, StateDir: t.TempDir(), ApplicationServer: "127.0.0.1:1"}
	app, err := runtime.New(wordCount(t, true), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	s, err := app.QueryKeyValueStore[string, int64]("counts", serde.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get("alpha")
	errorIs(t, err, runtime.ErrStoreNotAvailable)
	_, err = s.All()
	errorIs(t, err, runtime.ErrStoreNotAvailable)
	_, err = app.KeyOwner("counts", "alpha", serde.String())
	errorIs(t, err, runtime.ErrStoreNotAvailable)
	if m := app.AllMetadata(); len(m) != 0 {
		t.Errorf("AllMetadata before any assignment: %+v", m)
	}
}
