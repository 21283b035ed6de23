package federated

import (
	"errors"
	"fmt"
)

// Reason classifies why an update was refused.
type Reason uint8

const (
	ReasonLength        Reason = iota + 1 // wrong number of parameters
	ReasonNonFinite                       // a NaN or ±Inf parameter
	ReasonNorm                            // L2 norm above the absolute or relative bound
	ReasonReplay                          // a round the client already contributed to (or older)
	ReasonStale                           // a round older than the staleness bound
	ReasonFuture                          // a round the server has not started
	ReasonUnknownClient                   // a client id outside the population
	ReasonSamples                         // a negative sample count
	ReasonKind                            // an unknown update kind
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonLength:        "wrong length",
	ReasonNonFinite:     "non-finite value",
	ReasonNorm:          "norm out of bounds",
	ReasonReplay:        "replayed round",
	ReasonStale:         "stale round",
	ReasonFuture:        "future round",
	ReasonUnknownClient: "unknown client",
	ReasonSamples:       "bad sample count",
	ReasonKind:          "unknown kind",
}

func (r Reason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Sentinel errors, one per Reason; a *RejectError matches its reason's
// sentinel under errors.Is.
var (
	ErrLength        = errors.New("federated: update has the wrong length")
	ErrNonFinite     = errors.New("federated: update has a non-finite value")
	ErrNorm          = errors.New("federated: update norm out of bounds")
	ErrReplay        = errors.New("federated: replayed update")
	ErrStale         = errors.New("federated: stale update")
	ErrFuture        = errors.New("federated: update from a future round")
	ErrUnknownClient = errors.New("federated: unknown client")
	ErrSamples       = errors.New("federated: bad sample count")
	ErrKind          = errors.New("federated: unknown update kind")

	// ErrNoUpdates is returned by aggregators given nothing to aggregate (or
	// nothing with positive weight).
	ErrNoUpdates = errors.New("federated: no updates to aggregate")
	// ErrTooFewUpdates is returned by robust aggregators whose assumptions
	// need more updates than they were given (Krum: n > 2f+2; trimmed mean:
	// n > 2*floor(beta*n)).
	ErrTooFewUpdates = errors.New("federated: too few updates for this aggregator")
)

var reasonErrs = [numReasons]error{
	ReasonLength:        ErrLength,
	ReasonNonFinite:     ErrNonFinite,
	ReasonNorm:          ErrNorm,
	ReasonReplay:        ErrReplay,
	ReasonStale:         ErrStale,
	ReasonFuture:        ErrFuture,
	ReasonUnknownClient: ErrUnknownClient,
	ReasonSamples:       ErrSamples,
	ReasonKind:          ErrKind,
}

// RejectError reports a refused update: who sent it, for which round, and why.
type RejectError struct {
	Client ClientID
	Round  uint64
	Reason Reason
	Detail string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("federated: update from client %d for round %d refused: %s: %s", e.Client, e.Round, e.Reason, e.Detail)
}

// Unwrap returns the sentinel of e's reason, so errors.Is(err, ErrNonFinite)
// and the like work.
func (e *RejectError) Unwrap() error {
	if e.Reason > 0 && e.Reason < numReasons {
		return reasonErrs[e.Reason]
	}
	return nil
}

func reject(u Update, r Reason, detail string) *RejectError {
	return &RejectError{Client: u.Client, Round: u.Round, Reason: r, Detail: detail}
}
