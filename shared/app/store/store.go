// Package store is the contract between the farm's application services and
// the stores that keep its state: the Store interface, the transactions of
// conditional writes it commits, job listings with their cursors, and the
// conflict every lost write race reports. Two stores implement it
// (adapter/memstore, adapter/dynamostore) and one conformance suite
// (testkit/storetest) runs against both. Each service declares the subset
// of Store it uses beside itself.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is the farm's durable state. Two implementations exist
// (memstore, dynamostore) and one conformance suite (storetest) runs against
// both.
//
// Every change goes through Commit: a set of writes applied atomically, each
// conditional on the stored item still being the one the caller read (same
// version, and for jobs the same status and claim token), or being absent for
// a create. A write that lost a race changes nothing and returns an EConflict
// *farm.Error wrapping ErrLostRace. The services keep transactions to one
// item on every hot path: a single conditional write is cheaper than a
// transaction on DynamoDB (and far cheaper on emulators), and everything it
// would otherwise update together is either derived or repaired later.
type Store interface {
	Commit(ctx context.Context, tx Tx) error

	GetJob(ctx context.Context, id string) (*farm.Job, error)
	// CompleteJob records a completion written as a patch of the job as
	// its builder presumes it, in one conditional write and no read: it
	// applies p (farm.CompletionPatch.Apply) only to the job p presumes
	// (Applies) and returns the job as written. Otherwise it changes
	// nothing: the job already holding this very patch (its answer was
	// lost and it was sent again: IsOwnCompletion) is returned as it is;
	// any other job is an EConflict lost race carrying the job as stored
	// (CurrentJob), so that the caller decides from it without a read; no
	// job is ENotFound.
	CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error)
	ListJobs(ctx context.Context, f JobFilter) (*JobPage, error)
	// QueuedJobs lists up to limit queued jobs of pool in dispatch order:
	// highest score first, then oldest (smallest id) first.
	QueuedJobs(ctx context.Context, pool string, limit int) ([]*farm.Job, error)
	// DueJobs lists the ids of running or cancelling jobs whose ReapAt
	// passed before now, soonest first: the reaper's sparse reap index
	// (ReapAt is at the latest the job's lease expiry or its deadline; see
	// farm.Job.ReapAt). The reaper re-reads each and decides.
	DueJobs(ctx context.Context, now time.Time, limit int) ([]string, error)
	// ActiveJobs lists the running and cancelling jobs of builder ("":
	// every builder's), up to limit (<= 0: all), from the same index: what
	// a builder holds, what a pool runs. On DynamoDB the index is
	// eventually consistent: a claim or an ending can show a moment late.
	ActiveJobs(ctx context.Context, builder string, limit int) ([]ActiveJob, error)
	// JobEvents lists a job's history, oldest first (read from the job's
	// own item, where every transition's event is written with it).
	JobEvents(ctx context.Context, id string) ([]farm.JobEvent, error)
	// RecentStarts lists the time to start (TimeToStartSeconds) of up to
	// limit jobs of pool whose current or last run started at or after
	// since, latest start first. It reads an index by start time, never the
	// whole table.
	RecentStarts(ctx context.Context, pool string, since time.Time, limit int) ([]float64, error)

	// AppendLogChunk stores one piece of a run's log (an unconditional
	// write: the same job, run and offset again replaces the piece).
	AppendLogChunk(ctx context.Context, c farm.LogChunk) error
	// LogChunks lists the last limit (<= 0: all) log chunks of run of job
	// id, in log order (by offset).
	LogChunks(ctx context.Context, id string, run, limit int) ([]farm.LogChunk, error)

	// GetIdempotency returns the live record of key, or ENotFound (also for an expired one).
	GetIdempotency(ctx context.Context, key string, now time.Time) (*farm.Idempotency, error)

	GetBuilder(ctx context.Context, name string) (*farm.Builder, error)
	ListBuilders(ctx context.Context) ([]*farm.Builder, error)

	GetToken(ctx context.Context, hash string) (*farm.Token, error)
	// ListTokens lists the stored tokens, oldest first (expired ones too,
	// until the store's TTL removes them).
	ListTokens(ctx context.Context) ([]*farm.Token, error)
	// DeleteToken deletes the token with id and returns it, or ENotFound.
	DeleteToken(ctx context.Context, id string) (*farm.Token, error)
	// GetAuthGeneration reads the auth generation record (authgen.go), a
	// zero one (Gen 0) when none was ever written.
	GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error)

	// Dependents lists up to limit (<= 0: all) ids of the jobs registered
	// as waiting for job id, in id order.
	Dependents(ctx context.Context, id string, limit int) ([]string, error)
	// GetDependentTally returns the count of job id's dependents (a zero
	// tally, Version 0, when none was ever counted).
	GetDependentTally(ctx context.Context, id string) (*DependentTally, error)

	GetResourcePool(ctx context.Context, name string) (*farm.ResourcePool, error)
	// ListResourcePools lists every resource pool (a small table), by name.
	ListResourcePools(ctx context.Context) ([]*farm.ResourcePool, error)
	GetResource(ctx context.Context, pool, name string) (*farm.Resource, error)
	ListResources(ctx context.Context, pool string) ([]*farm.Resource, error)
	// ExpiredResourceLeases lists used resources whose holder's lease expired before now.
	ExpiredResourceLeases(ctx context.Context, now time.Time, limit int) ([]*farm.Resource, error)
}

// ActiveJob is a running or cancelling job as the reap index keeps it.
// (Only what never changes while a job is active, and reap_at: the index
// entry is written at a claim, at the ending, and when reap_at moves.)
type ActiveJob struct {
	ID        string
	Builder   string
	Pool      string
	Type      string
	StartedAt time.Time
	ReapAt    time.Time
}

// Tx is a set of writes applied all or nothing. A nil Prev creates the item
// (conditional on its absence); otherwise the write replaces Prev
// (conditional on Prev's version being the stored one). A job's history is
// part of the job's item (JobWrite.History): a job write and its event are
// one item write, atomic by construction. Commit records each job write's
// Event on its Next (farm.Job.Record).
//
// A transaction of one job write whose condition fails because the store
// already holds that very write (IsOwnWrite: its answer was lost and the
// SDK sent it again) succeeds: retrying a write never turns into a
// conflict against itself.
type Tx struct {
	Jobs      []JobWrite
	Builders  []BuilderWrite
	Pools     []PoolWrite
	Resources []ResourceWrite
	// Tokens are created (never replaced).
	Tokens []*farm.Token
	// Dependents record dependency edges, each its own item (never part of
	// the job depended on, which they would grow without bound). They are
	// written unconditionally: writing an edge again changes nothing.
	Dependents []DependentEdge
	// Tallies create or replace dependent counts (conditional on the
	// version read, or on absence when Prev is nil).
	Tallies []TallyWrite
	// Idempotency creates or replaces an idempotency record.
	Idempotency *IdempotencyWrite
	// AuthGen replaces the auth generation record (authgen.go).
	AuthGen *AuthGenWrite
}

// IdempotencyWrite creates an idempotency record (Prev nil: unless a live
// record holds the key, else Commit fails with ErrIdempotencyKeyTaken) or
// replaces one (conditional on Prev's status and job).
type IdempotencyWrite struct{ Prev, Next *farm.Idempotency }

// Size is the number of state items the transaction writes (events not counted).
func (tx Tx) Size() int {
	n := len(tx.Jobs) + len(tx.Builders) + len(tx.Pools) + len(tx.Resources) + len(tx.Tokens) + len(tx.Dependents) + len(tx.Tallies)
	if tx.Idempotency != nil {
		n++
	}
	if tx.AuthGen != nil {
		n++
	}
	return n
}

// MaxTxItems is DynamoDB's limit of items in one transaction.
const MaxTxItems = 100

// JobWrite creates or replaces a job and appends its history event to the
// job's history (Next.History; see History) in the same item write.
type JobWrite struct {
	Prev  *farm.Job
	Next  *farm.Job
	Event *farm.JobEvent
}

// DependentEdge records that job DependentID waits for job JobID.
type DependentEdge struct {
	JobID       string
	DependentID string
	// ExpiresAt is when the store may drop the edge (zero: keep).
	ExpiresAt time.Time
}

// DependentTally counts the dependents registered on job JobID, so that
// their limit is checked with one read rather than by counting edges.
type DependentTally struct {
	JobID   string
	Count   int
	Version int64
	// ExpiresAt is when the store may drop the tally (zero: keep).
	ExpiresAt time.Time
}

// Stored is the tally as a write's Prev: nil for one never written.
func (t *DependentTally) Stored() *DependentTally {
	if t.Version == 0 {
		return nil
	}
	return t
}

// TallyWrite creates (Prev nil) or replaces a dependent tally.
type TallyWrite struct{ Prev, Next *DependentTally }

// BuilderWrite creates or replaces a builder.
type BuilderWrite struct{ Prev, Next *farm.Builder }

// PoolWrite creates or replaces a resource pool.
type PoolWrite struct{ Prev, Next *farm.ResourcePool }

// ResourceWrite creates or replaces a resource.
type ResourceWrite struct{ Prev, Next *farm.Resource }

// ErrLostRace is wrapped by the EConflict error of a write whose condition
// failed because another writer changed the item first.
var ErrLostRace = errors.New("lost a write race")

// LostRace returns the conflict error stores report for a failed condition.
func LostRace(format string, args ...any) error {
	return &farm.Error{Code: farm.EConflict, Message: fmt.Sprintf(format, args...), Err: ErrLostRace}
}

// ErrIdempotencyKeyTaken is wrapped by Commit's error when the transaction's
// idempotency key is already recorded.
var ErrIdempotencyKeyTaken = errors.New("idempotency key already used")
