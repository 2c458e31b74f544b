package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/eddy-io/eddy/broker/internal/storage"
	"github.com/eddy-io/eddy/broker/internal/txn"
)

// openTransactions opens the transaction coordinator over the broker's logs and groups.
// Opening finishes the commits and aborts a crash cut short, so the topics and groups
// must be open before it.
func (b *Broker) openTransactions() error {
	c, err := txn.New(context.Background(), b.txnOptions(txnMarkers{b: b}))
	if err != nil {
		return fmt.Errorf("broker: transactions: %w", err)
	}
	b.txns = c
	return nil
}

// txnOptions configures the transaction coordinator to end transactions through markers.
func (b *Broker) txnOptions(markers txn.MarkerWriter) txn.Options {
	return txn.Options{
		Dir:                filepath.Join(b.cfg.DataDir, "transactions"),
		Sync:               b.fsync == storage.FsyncAlways,
		Logger:             b.log.With("component", "transactions"),
		AllocateProducerID: b.pids.allocate,
		PartitionExists:    b.topics.partitionExists,
		Markers:            markers,
		MaxTimeout:         b.cfg.TransactionMaxTimeout,
		IDExpiration:       b.cfg.TransactionalIDExpiration,
		AbortInterval:      b.cfg.TransactionAbortInterval,
	}
}

// closeTransactions stops the coordinator before the logs and groups it writes to close.
func (b *Broker) closeTransactions() error {
	if b.txns == nil {
		return nil
	}
	return b.txns.Close()
}

// txnCheckCode maps an error of the coordinator's CheckProduce or CheckOffsetCommit to the
// code a partition leader answers. PRODUCER_FENCED is the coordinator's own answer (to
// InitProducerId, AddPartitionsToTxn, EndTxn); Produce and TxnOffsetCommit clients know
// a fenced producer as INVALID_PRODUCER_EPOCH, as Kafka's leaders answer it.
func (b *Broker) txnCheckCode(err error) int16 {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		b.log.Error("transaction check failed", "err", err)
		return kerr.UnknownServerError.Code
	}
	if ke == kerr.ProducerFenced {
		return kerr.InvalidProducerEpoch.Code
	}
	return ke.Code
}
