package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// ForwardedHeader marks a key query one instance forwarded to another. An instance
// never forwards a query carrying it again, so stale or disagreeing assignments
// cannot bounce a query around; it answers 503 instead.
const ForwardedHeader = "Eddy-Query-Forwarded"

// DefaultMaxRangeEntries bounds a range answer when QueryOptions leaves it at zero.
const DefaultMaxRangeEntries = 10000

// QueryOptions configures a QueryHandler.
type QueryOptions struct {
	// Client sends forwarded key queries; nil means a client with a 10 s timeout.
	Client *http.Client
	// MaxRangeEntries bounds the entries of a range answer, which then says it was
	// truncated; zero means DefaultMaxRangeEntries.
	MaxRangeEntries int
}

// QueryHandler is the opt-in HTTP endpoint of interactive queries, over
// net/http. It answers, with JSON, for the stores registered with
// RegisterKeyValueQuery:
//
//	GET /stores/{store}/keys/{key}          {"key": ..., "value": ...}
//	GET /stores/{store}/range?from=&to=     {"entries": [{"key": ..., "value": ...}], "truncated": false}
//	GET /stores/{store}/range               every local entry, the same way
//	GET /metadata                           the instances, their tasks and stores
//
// A key whose task is active on another instance is fetched from that instance's
// ApplicationServer (App.KeyOwner) and its answer passed on, so every instance
// answers for every key; a range covers this instance's tasks only. Errors are
// {"error": "..."} with 400 (a key that does not parse, a range with one bound), 404
// (an unregistered store, a missing key), 503 (the store is not available here now:
// rebalancing, or a forwarded query that is not local either) or 502 (forwarding
// failed).
type QueryHandler struct {
	app    *App
	client *http.Client
	limit  int
	mux    *http.ServeMux

	mu     sync.RWMutex
	stores map[string]storeQuery
}

// storeQuery answers the queries of one registered store with its types erased.
type storeQuery interface {
	get(key string) (entry, bool, error)
	owner(key string) (HostInfo, error)
	scan(from, to *string, limit int) (entries []entry, truncated bool, err error)
}

// entry is one key and value of an answer.
type entry struct {
	Key   any `json:"key"`
	Value any `json:"value"`
}

// errBadQuery marks a request the handler cannot parse.
var errBadQuery = errors.New("runtime: bad query")

// NewQueryHandler returns the HTTP endpoint of app's interactive queries, with no
// store registered. Serve it with Serve or any http.Server; Config.ApplicationServer
// should be where it listens, since the other instances forward there.
func NewQueryHandler(app *App, opts QueryOptions) *QueryHandler {
	h := &QueryHandler{app: app, client: opts.Client, limit: opts.MaxRangeEntries, stores: map[string]storeQuery{}}
	if h.client == nil {
		h.client = &http.Client{Timeout: 10 * time.Second}
	}
	if h.limit <= 0 {
		h.limit = DefaultMaxRangeEntries
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /stores/{store}/keys/{key}", h.serveKey)
	h.mux.HandleFunc("GET /stores/{store}/range", h.serveRange)
	h.mux.HandleFunc("GET /metadata", h.serveMetadata)
	return h
}

// RegisterKeyValueQuery serves key-value store name (see App.QueryKeyValueStore)
// through h: parseKey turns a key of the URL into a K, and keys and values are
// written with encoding/json. A store the topology lacks fails with an error
// wrapping ErrUnknownStore.
func RegisterKeyValueQuery[K, V any](h *QueryHandler, name string, keys serde.Serde[K], parseKey func(string) (K, error)) error {
	if parseKey == nil {
		return errors.New("runtime: RegisterKeyValueQuery: nil parseKey")
	}
	s, err := h.app.QueryKeyValueStore[K, V](name, keys)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stores[name] = kvQuery[K, V]{store: s, parse: parseKey}
	return nil
}

// ServeHTTP answers a query; see QueryHandler.
func (h *QueryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Serve answers queries on ln until ctx ends, then shuts the server down, waiting
// up to 5 s for queries in flight. It returns nil after ctx ends.
func (h *QueryHandler) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("runtime: query server: %w", err)
	}
	return <-done
}

func (h *QueryHandler) store(w http.ResponseWriter, r *http.Request) (storeQuery, bool) {
	name := r.PathValue("store")
	h.mu.RLock()
	s, ok := h.stores[name]
	h.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: %w: store %q is not served here", ErrStoreNotAvailable, ErrUnknownStore, name))
	}
	return s, ok
}

func (h *QueryHandler) serveKey(w http.ResponseWriter, r *http.Request) {
	s, ok := h.store(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	e, found, err := s.get(key)
	switch {
	case err == nil && found:
		writeJSON(w, http.StatusOK, e)
	case err == nil:
		writeError(w, http.StatusNotFound, fmt.Errorf("runtime: key %q not found in store %q", key, r.PathValue("store")))
	case errors.Is(err, errBadQuery):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrStoreNotAvailable):
		h.forward(w, r, s, key, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

// forward passes a key query the local stores cannot answer (cause) to the
// instance owning the key, unless it was forwarded already or the owner is this
// instance (the assignment is ahead of the tasks), which answer 503.
func (h *QueryHandler) forward(w http.ResponseWriter, r *http.Request, s storeQuery, key string, cause error) {
	owner, err := s.owner(key)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, errors.Join(cause, err))
		return
	}
	self, _ := parseHostInfo(h.app.cfg.ApplicationServer)
	if r.Header.Get(ForwardedHeader) != "" || owner == self {
		writeError(w, http.StatusServiceUnavailable, cause)
		return
	}
	u := "http://" + owner.String() + "/stores/" + url.PathEscape(r.PathValue("store")) + "/keys/" + url.PathEscape(key)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	from := h.app.cfg.ApplicationServer
	if from == "" {
		from = "unknown"
	}
	req.Header.Set(ForwardedHeader, from)
	resp, err := h.client.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("runtime: forward to %s: %w", owner, err))
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.Header().Set(ForwardedHeader, owner.String())
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (h *QueryHandler) serveRange(w http.ResponseWriter, r *http.Request) {
	s, ok := h.store(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var from, to *string
	if q.Has("from") || q.Has("to") {
		if !q.Has("from") || !q.Has("to") {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: a range needs both from and to, or neither", errBadQuery))
			return
		}
		f, t := q.Get("from"), q.Get("to")
		from, to = &f, &t
	}
	entries, truncated, err := s.scan(from, to, h.limit)
	switch {
	case err == nil:
		if entries == nil {
			entries = []entry{}
		}
		writeJSON(w, http.StatusOK, struct {
			Entries   []entry `json:"entries"`
			Truncated bool    `json:"truncated"`
		}{entries, truncated})
	case errors.Is(err, errBadQuery):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrStoreNotAvailable):
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

// instanceJSON is InstanceMetadata as /metadata writes it.
type instanceJSON struct {
	Server string   `json:"server"`
	Host   HostInfo `json:"host"`
	Tasks  []string `json:"tasks"`
	Stores []string `json:"stores"`
}

func (h *QueryHandler) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	out := []instanceJSON{}
	for _, m := range h.app.AllMetadata() {
		ij := instanceJSON{Server: m.Server, Host: m.Host, Tasks: []string{}, Stores: m.Stores}
		for _, id := range m.Tasks {
			ij.Tasks = append(ij.Tasks, id.String())
		}
		out = append(out, ij)
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("runtime: encode answer: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// kvQuery is a registered key-value store.
type kvQuery[K, V any] struct {
	store *ReadOnlyKeyValueStore[K, V]
	parse func(string) (K, error)
}

func (q kvQuery[K, V]) key(s string) (K, error) {
	k, err := q.parse(s)
	if err != nil {
		return k, fmt.Errorf("%w: key %q: %w", errBadQuery, s, err)
	}
	return k, nil
}

func (q kvQuery[K, V]) get(s string) (entry, bool, error) {
	k, err := q.key(s)
	if err != nil {
		return entry{}, false, err
	}
	v, found, err := q.store.Get(k)
	return entry{Key: k, Value: v}, found, err
}

func (q kvQuery[K, V]) owner(s string) (HostInfo, error) {
	k, err := q.key(s)
	if err != nil {
		return HostInfo{}, err
	}
	return q.store.app.KeyOwner(q.store.name, k, q.store.keys)
}

func (q kvQuery[K, V]) scan(from, to *string, limit int) (entries []entry, truncated bool, err error) {
	var it state.KeyValueIterator[K, V]
	if from == nil {
		it, err = q.store.All()
	} else {
		lo, lerr := q.key(*from)
		hi, herr := q.key(*to)
		if err := errors.Join(lerr, herr); err != nil {
			return nil, false, err
		}
		it, err = q.store.Range(lo, hi)
	}
	if err != nil {
		return nil, false, err
	}
	for it.Next() {
		if len(entries) == limit {
			truncated = true
			break
		}
		entries = append(entries, entry{Key: it.Key(), Value: it.Value()})
	}
	return entries, truncated, errors.Join(it.Err(), it.Close())
}
