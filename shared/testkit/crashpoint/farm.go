package crashpoint

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/dynamostore"
	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// Farm is what outlives a process: the store (with its change feed, the
// jobs table's stream), object storage, the doorbell's rings, the clock.
// Start builds one process's services over it.
type Farm struct {
	Mem    *memstore.Store
	Blobs  *memblobs.Store
	Pools  []string
	Policy farm.Policy

	mu      sync.Mutex
	now     time.Time
	changes []store.JobChange
	cursor  int // the stream's first change not yet handled
	rings   []Ring
	// seq orders changes and rings; queuedAt is the seq at which each job
	// last became queued.
	seq      int
	queuedAt map[string]int
}

// Ring is one doorbell ring: pool's builders woken at At (after the
// ring's delay) with JobID as the hint.
type Ring struct {
	Pool, JobID string
	At          time.Time
	Seq         int
}

// NewFarm is an empty farm serving pools, its clock at start.
func NewFarm(start time.Time, policy farm.Policy, pools ...string) *Farm {
	return &Farm{Mem: memstore.New(), Blobs: memblobs.New("farm"), Pools: pools, Policy: policy.WithDefaults(), now: start, queuedAt: map[string]int{}}
}

// Now is the farm's clock.
func (f *Farm) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the farm's clock on.
func (f *Farm) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Rings are the doorbell's rings so far.
func (f *Farm) Rings() []Ring {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Ring(nil), f.rings...)
}

// rungSince reports whether pool's doorbell rang (and the ring was
// delivered by now) after job id last became queued.
func (f *Farm) rungSince(pool, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rings {
		if r.Pool == pool && r.Seq > f.queuedAt[id] && !r.At.After(f.now) {
			return true
		}
	}
	return false
}

// Start builds a process's services over the farm, every write of theirs
// through p.
func (f *Farm) Start(p *Process) *wiring.Services {
	return wiring.NewServices(wiring.Deps{
		Store:    &processStore{Store: &streamStore{Store: f.Mem, farm: f}, p: p},
		Doorbell: processBell{farm: f, p: p},
		Blobs:    processBlobs{Store: f.Blobs, p: p},
		Pools:    f.Pools,
		Policy:   f.Policy,
		Sources:  farm.SourcePolicy{Bucket: "farm", Prefix: blobs.IncomingPrefix},
		Clock:    f.Now,
		Logger:   slog.New(slog.DiscardHandler),
	})
}

// Dispatch runs one invocation of the stream dispatcher in process p with
// every change not yet handled, as the event source mapping delivers
// them: when the process crashes the whole batch is delivered again;
// partial failures are delivered again from the first that failed. It
// reports whether changes are left.
func (f *Farm) Dispatch(ctx context.Context, p *Process) (more bool) {
	f.mu.Lock()
	start := f.cursor
	batch := append([]store.JobChange(nil), f.changes[start:]...)
	f.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	s := f.Start(p)
	failed := f.dispatcher(s).Apply(ctx, batch)
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Dead() {
		return true // the invocation failed: Lambda delivers the batch again
	}
	next := start + len(batch)
	for i, c := range batch {
		if len(failed) > 0 && c.ID == failed[0] {
			next = start + i
			break
		}
	}
	f.cursor = next
	return f.cursor < len(f.changes)
}

// dispatcher is the dispatch Lambda's handler over a process's services
// (as wiring.Farm.Dispatcher builds it over DynamoDB). A dispatcher that
// works from the stream's new image needs it in each change: see
// streamStore.Commit.
// dispatchFilter is the dispatch mapping's filter.
var dispatchFilter = dynamostore.DispatchFilter.MustCompile()

func (f *Farm) dispatcher(s *wiring.Services) *dispatch.Dispatcher {
	return &dispatch.Dispatcher{Work: s.FollowUp, Logger: s.Logger}
}

// processStore is the store as one process sees it: its writes go
// through the process.
type processStore struct {
	store.Store
	p *Process
}

func (s *processStore) Commit(ctx context.Context, tx store.Tx) error {
	return s.p.write(Write{Kind: "commit", What: describe(tx)}, func() error { return s.Store.Commit(ctx, tx) })
}

func (s *processStore) DeleteToken(ctx context.Context, id string) (*farm.Token, error) {
	var out *farm.Token
	err := s.p.write(Write{Kind: "commit", What: "delete token"}, func() error {
		var err error
		out, err = s.Store.DeleteToken(ctx, id)
		return err
	})
	return out, err
}

// CompleteJob is a completion's one write: counted like a commit, and
// described as the job transition it makes.
func (s *processStore) CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error) {
	var out *farm.Job
	w := Write{Kind: "commit", What: fmt.Sprintf("job %s:%s→%s (one-call patch)", p.ID, farm.StatusRunning, p.Status)}
	err := s.p.write(w, func() error {
		var err error
		out, err = s.Store.CompleteJob(ctx, p)
		return err
	})
	return out, err
}

// streamStore is the durable store with its change feed: each job write
// committed is one change, as the jobs table's stream reports it (old and
// new status, pool; the new image is w.Next).
type streamStore struct {
	store.Store
	farm *Farm
}

// CompleteJob writes a completion patch; a patch that changed the job is
// one change of the feed, as the stream reports the UpdateItem (its images
// are the job before and after: dynamostore keeps them the PutItem's).
func (s *streamStore) CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error) {
	before, err := s.Store.GetJob(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	done, err := s.Store.CompleteJob(ctx, p)
	if err != nil || done.Version == before.Version {
		return done, err // nothing written (its own earlier write found)
	}
	return done, s.changed(store.Tx{Jobs: []store.JobWrite{{Prev: before, Next: done}}})
}

func (s *streamStore) Commit(ctx context.Context, tx store.Tx) error {
	if err := s.Store.Commit(ctx, tx); err != nil {
		return err
	}
	return s.changed(tx)
}

// changed feeds the job writes of tx, committed, to the stream.
func (s *streamStore) changed(tx store.Tx) error {
	s.farm.mu.Lock()
	defer s.farm.mu.Unlock()
	for _, w := range tx.Jobs {
		c := store.JobChange{ID: strconv.Itoa(len(s.farm.changes) + 1), JobID: w.Next.ID, NewStatus: w.Next.Status, Pool: w.Next.Pool, Job: w.Next.Clone()}
		if w.Prev != nil {
			c.OldStatus = w.Prev.Status
		}
		s.farm.seq++
		// The dispatcher sees only what its event-source filter passes,
		// as on AWS and in the local farm.
		rec, err := dynamostore.JobStreamRecord(c.ID, w.Prev, w.Next)
		if err != nil {
			return err
		}
		if ok, err := dispatchFilter.MatchValue(rec); err != nil {
			return err
		} else if ok {
			s.farm.changes = append(s.farm.changes, c)
		}
		if c.NewStatus == farm.StatusQueued {
			s.farm.queuedAt[c.JobID] = s.farm.seq
		}
	}
	return nil
}

// processBell is the doorbell as one process rings it.
type processBell struct {
	farm *Farm
	p    *Process
}

func (b processBell) Ring(_ context.Context, pool, jobID string, delay time.Duration) error {
	return b.p.write(Write{Kind: "ring", What: pool + " " + jobID}, func() error {
		b.farm.mu.Lock()
		defer b.farm.mu.Unlock()
		b.farm.seq++
		b.farm.rings = append(b.farm.rings, Ring{Pool: pool, JobID: jobID, At: b.farm.now.Add(max(delay, 0)), Seq: b.farm.seq})
		return nil
	})
}

// processBlobs is object storage as one process writes it.
type processBlobs struct {
	blobs.Store
	p *Process
}

func (b processBlobs) Put(ctx context.Context, key, contentType string, body []byte) error {
	return b.p.write(Write{Kind: "put", What: key}, func() error { return b.Store.Put(ctx, key, contentType, body) })
}
