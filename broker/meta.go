package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// metaStore keeps the broker's small durable documents (cluster ID, topics, producer ID
// blocks) as JSON files, each replaced atomically: written to a temporary file, fsynced,
// renamed over the old one, and the directory fsynced.
type metaStore struct {
	dir       string
	clusterID string
	mu        sync.Mutex
}

func openMeta(dir string) (*metaStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: meta dir: %w", err)
	}
	m := &metaStore{dir: dir}
	var cluster struct{ ClusterID string }
	found, err := m.load("cluster.json", &cluster)
	if err != nil {
		return nil, err
	}
	if !found || cluster.ClusterID == "" {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, fmt.Errorf("broker: cluster id: %w", err)
		}
		cluster.ClusterID = base64.RawURLEncoding.EncodeToString(raw[:])
		if err := m.save("cluster.json", cluster); err != nil {
			return nil, err
		}
	}
	m.clusterID = cluster.ClusterID
	return m, nil
}

// load reads name into v; found is false when the file does not exist.
func (m *metaStore) load(name string, v any) (found bool, err error) {
	b, err := os.ReadFile(filepath.Join(m.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("broker: read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("broker: decode %s: %w", name, err)
	}
	return true, nil
}

// save replaces name with v durably.
func (m *metaStore) save(name string, v any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("broker: encode %s: %w", name, err)
	}
	return writeFileAtomic(filepath.Join(m.dir, name), b)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("broker: write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("broker: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("broker: rename %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("broker: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("broker: sync dir %s: %w", dir, err)
	}
	return nil
}
