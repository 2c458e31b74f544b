package testdriver

import (
	"log/slog"
	"time"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/state"
)

// DefaultApplicationID is the application ID of a Config that leaves it empty. It
// prefixes internal topics: "test-app-<store>-changelog".
const DefaultApplicationID = "test-app"

// Config configures a Driver. The zero value is ready to use.
type Config struct {
	// ApplicationID prefixes internal topic names; empty means DefaultApplicationID.
	ApplicationID string
	// Partitions gives the partition count of external topics, input or output, by
	// name; a topic not listed has one partition. Repartition topics take the count
	// given to Topology.AddRepartitionTopic, or when that is zero the largest count of
	// the source topics of the sub-topology that writes them, as the runtime creates
	// them. Changelog topics have one partition per task of their store.
	Partitions map[string]int32
	// InitialWallClock is the mocked wall clock at start, and the default start time of
	// input topics; the zero Time means the Unix epoch, so runs are reproducible.
	InitialWallClock time.Time
	// StateDir, when set, keeps persistent stores in Badger under
	// StateDir/<ApplicationID>, the same engine as production; empty keeps every
	// store in memory. In-memory stores are always in memory.
	StateDir string
	// Badger tunes the Badger engines under StateDir; zero fields take the values of
	// state.DefaultBadgerOptions.
	Badger state.BadgerOptions
	// OnDeserializationError and OnProcessingError handle failed records as in the
	// runtime; nil is runtime.FailOnError, which fails the driver.
	OnDeserializationError runtime.ErrorHandler
	OnProcessingError      runtime.ErrorHandler
	// Logger receives the tasks' warnings (skipped records); nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ApplicationID == "" {
		c.ApplicationID = DefaultApplicationID
	}
	if c.InitialWallClock.IsZero() {
		c.InitialWallClock = time.UnixMilli(0)
	}
	return c
}
