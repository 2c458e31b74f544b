package runtime

// AppState is the lifecycle state of an application instance, as Kafka Streams'
// KafkaStreams.State.
type AppState int

const (
	// StateCreated is the state after New.
	StateCreated AppState = iota
	// StateRebalancing means some thread is joining the group or starting (and
	// restoring) the tasks it was given.
	StateRebalancing
	// StateRunning means every thread is processing its tasks.
	StateRunning
	// StatePendingShutdown means Close was called or Run's context ended, and the
	// threads are committing and closing their tasks.
	StatePendingShutdown
	// StateNotRunning is the state after a graceful stop.
	StateNotRunning
	// StateError is the state after Run failed.
	StateError
)

var appStateNames = [...]string{"CREATED", "REBALANCING", "RUNNING", "PENDING_SHUTDOWN", "NOT_RUNNING", "ERROR"}

// String returns the state's name as Kafka Streams writes it, "RUNNING".
func (s AppState) String() string {
	if s < 0 || int(s) >= len(appStateNames) {
		return "UNKNOWN"
	}
	return appStateNames[s]
}

// State returns the instance's current state.
func (a *App) State() AppState {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	return a.state
}

// setState moves the instance to s and tells the listener, under the state lock so
// that listeners see transitions in order.
func (a *App) setState(s AppState) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	a.transition(s)
}

func (a *App) transition(s AppState) {
	old := a.state
	if old == s {
		return
	}
	a.state = s
	a.cfg.metrics.setState(old, s)
	a.log.Info("application state", "from", old.String(), "to", s.String())
	if a.cfg.StateListener != nil {
		a.cfg.StateListener(old, s)
	}
}

// threadRebalancing records whether thread name is rebalancing and moves the instance
// between StateRebalancing and StateRunning accordingly, unless it is shutting down.
func (a *App) threadRebalancing(name string, rebalancing bool) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	if rebalancing {
		a.rebalancing[name] = true
	} else {
		delete(a.rebalancing, name)
	}
	if a.state != StateRebalancing && a.state != StateRunning {
		return
	}
	if len(a.rebalancing) > 0 {
		a.transition(StateRebalancing)
	} else {
		a.transition(StateRunning)
	}
}
