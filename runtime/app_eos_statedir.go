package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What an exactly-once instance keeps in its state directory, besides its stores: the
// process ID its transactional IDs derive from, and how many threads (so how many
// transactional IDs) it last ran with, so that a restart with fewer threads fences
// the IDs it no longer uses.

// processIDFileName holds the instance's process ID in an application's state
// directory: the exactly-once producers' transactional IDs derive from it, so an
// instance restarted on the same directory fences its predecessor's producers.
const processIDFileName = ".process-id"

// eosThreadsFileName holds the highest thread count an exactly-once instance ran with
// on the directory whose transactional IDs may still have a transaction open.
const eosThreadsFileName = ".eos-threads"

// processID returns the process ID kept in the directory, creating a random one the
// first time.
func (d *stateDir) processID() (string, error) {
	raw, err := os.ReadFile(filepath.Join(d.path, processIDFileName))
	if err == nil {
		if id := strings.TrimSpace(string(raw)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("runtime: read process ID: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id := hex.EncodeToString(b[:])
	if err := d.writeDurably(processIDFileName, id+"\n"); err != nil {
		return "", fmt.Errorf("runtime: write process ID: %w", err)
	}
	return id, nil
}

// eosThreads returns the thread count recorded by setEOSThreads, 0 if none.
func (d *stateDir) eosThreads() (int, error) {
	raw, err := os.ReadFile(filepath.Join(d.path, eosThreadsFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("runtime: read thread count: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("runtime: thread count file %s holds %q", eosThreadsFileName, raw)
	}
	return n, nil
}

// setEOSThreads records n as the thread count.
func (d *stateDir) setEOSThreads(n int) error {
	if err := d.writeDurably(eosThreadsFileName, strconv.Itoa(n)+"\n"); err != nil {
		return fmt.Errorf("runtime: write thread count: %w", err)
	}
	return nil
}

// writeDurably replaces file name of the directory with content: written to a
// temporary name, synced, renamed, and the directory synced, so that a crash leaves
// the old content or the new, whole, and a power loss does not undo the rename.
func (d *stateDir) writeDurably(name, content string) error {
	tmp, err := os.CreateTemp(d.path, name+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(d.path, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // best effort: the write already failed
		return err
	}
	dir, err := os.Open(d.path)
	if err != nil {
		return err
	}
	err = dir.Sync()
	return errors.Join(err, dir.Close())
}
