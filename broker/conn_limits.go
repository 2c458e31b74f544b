package broker

import (
	"log/slog"
	"time"
)

// refusalLogInterval spaces the log lines about connections refused at MaxConnections, so
// that clients reconnecting in a loop cannot flood the log.
const refusalLogInterval = 10 * time.Second

// refusals counts the connections refused at MaxConnections since it last logged.
type refusals struct {
	count  int
	logged time.Time
}

// add counts one refused connection, logging the count if refusalLogInterval has passed
// since the last line.
func (r *refusals) add(log *slog.Logger, remote string, limit int) {
	r.count++
	if now := time.Now(); now.Sub(r.logged) >= refusalLogInterval {
		log.Debug("connection limit reached: refusing connections", "refused", r.count, "max_connections", limit, "last_remote", remote)
		r.count = 0
		r.logged = now
	}
}
