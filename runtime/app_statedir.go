package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFileName is the lock file in an application's state directory.
const lockFileName = ".lock"

// stateDir is an application's state directory, StateDir/<app-id>, locked with flock
// for as long as the instance runs: two instances sharing one would corrupt each
// other's stores. The kernel drops the lock when the process dies, so a crash leaves
// nothing to clean up.
type stateDir struct {
	path string
	lock *os.File
}

// lockStateDir creates and locks dir.
func lockStateDir(dir string) (*stateDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runtime: state directory lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close() // the lock failed; the file is of no use
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrStateDirLocked, dir)
		}
		return nil, fmt.Errorf("runtime: lock state directory %s: %w", dir, err)
	}
	return &stateDir{path: dir, lock: f}, nil
}

// unlock releases the lock; closing the file drops the flock.
func (d *stateDir) unlock() error {
	if err := d.lock.Close(); err != nil {
		return fmt.Errorf("runtime: unlock state directory: %w", err)
	}
	return nil
}
