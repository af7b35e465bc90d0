// Package memstore is the in-memory Store: the fake the scheduler's unit
// tests and the conformance suite run against. It keeps the same contract as
// the DynamoDB store (conditional writes, atomic transactions, dispatch order,
// TTL on idempotency records), under one mutex.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Store is an in-memory store.Store. The zero value is not ready; use New.
type Store struct {
	mu          sync.Mutex
	jobs        map[string]*farm.Job
	idempotency map[string]*farm.Idempotency
	builders    map[string]*farm.Builder
	tokens      map[string]*farm.Token
	dependents  map[string]map[string]bool // job id -> ids of the jobs waiting for it
	tallies     map[string]*store.DependentTally
	pools       map[string]*farm.ResourcePool
	resources   map[string]*farm.Resource // pool + "/" + name
	fleet       fleetState                // scaler.go
	shards      store.DispatchShards      // shards.go
	logs        logChunks                 // logchunks.go
	authGen     *farm.AuthGeneration      // authgen.go
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		jobs:        map[string]*farm.Job{},
		idempotency: map[string]*farm.Idempotency{},
		builders:    map[string]*farm.Builder{},
		tokens:      map[string]*farm.Token{},
		dependents:  map[string]map[string]bool{},
		tallies:     map[string]*store.DependentTally{},
		pools:       map[string]*farm.ResourcePool{},
		resources:   map[string]*farm.Resource{},
	}
}

func conflict(format string, args ...any) error {
	return store.LostRace(format, args...)
}

// Commit checks every condition first and applies nothing unless all hold.
func (s *Store) Commit(_ context.Context, tx store.Tx) error {
	if tx.Size() == 0 {
		return nil
	}
	if tx.Size() > store.MaxTxItems {
		return farm.Errorf(farm.EInvalid, "transaction of %d items is over the limit of %d", tx.Size(), store.MaxTxItems)
	}
	for _, w := range tx.Jobs {
		w.Next.Record(w.Event)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(tx); err != nil {
		if s.ownWrite(tx) {
			return nil
		}
		return s.lostTo(tx, err)
	}
	for _, w := range tx.Jobs {
		j := w.Next.Clone()
		j.History = w.History()
		s.jobs[w.Next.ID] = j
	}
	for _, w := range tx.Builders {
		s.builders[w.Next.Name] = w.Next.Clone()
	}
	for _, w := range tx.Pools {
		s.pools[w.Next.Name] = w.Next.Clone()
	}
	for _, w := range tx.Resources {
		s.resources[resourceKey(w.Next.Pool, w.Next.Name)] = w.Next.Clone()
	}
	for _, t := range tx.Tokens {
		s.tokens[t.Hash] = t.Clone()
	}
	for _, w := range tx.Tallies {
		c := *w.Next
		s.tallies[c.JobID] = &c
	}
	for _, d := range tx.Dependents {
		if s.dependents[d.JobID] == nil {
			s.dependents[d.JobID] = map[string]bool{}
		}
		s.dependents[d.JobID][d.DependentID] = true
	}
	if tx.Idempotency != nil {
		c := *tx.Idempotency.Next
		s.idempotency[c.Key] = &c
	}
	if tx.AuthGen != nil {
		s.authGen = cloneAuthGen(tx.AuthGen.Next)
	}
	return nil
}

// ownWrite reports whether a failed transaction of one job write is that
// write already applied (store.IsOwnWrite).
func (s *Store) ownWrite(tx store.Tx) bool {
	return tx.Size() == 1 && len(tx.Jobs) == 1 && store.IsOwnWrite(s.jobs[tx.Jobs[0].Next.ID], tx.Jobs[0])
}

func (s *Store) check(tx store.Tx) error {
	seen := map[string]bool{}
	once := func(kind, key string) error {
		if seen[kind+"\x00"+key] {
			return farm.Errorf(farm.EInvalid, "transaction writes %s %s twice", kind, key)
		}
		seen[kind+"\x00"+key] = true
		return nil
	}
	for _, w := range tx.Jobs {
		if err := once("job", w.Next.ID); err != nil {
			return err
		}
		cur := s.jobs[w.Next.ID]
		switch {
		case w.Prev == nil && cur != nil:
			return conflict("job %s already exists", w.Next.ID)
		case w.Prev != nil && (cur == nil || cur.Version != w.Prev.Version || cur.Status != w.Prev.Status || cur.ClaimToken != w.Prev.ClaimToken):
			return conflict("job %s changed since it was read", w.Next.ID)
		}
	}
	for _, w := range tx.Builders {
		if err := once("builder", w.Next.Name); err != nil {
			return err
		}
		if err := versionCheck("builder "+w.Next.Name, s.builders[w.Next.Name], w.Prev, func(b *farm.Builder) int64 { return b.Version }); err != nil {
			return err
		}
	}
	for _, w := range tx.Pools {
		if err := once("pool", w.Next.Name); err != nil {
			return err
		}
		if err := versionCheck("resource pool "+w.Next.Name, s.pools[w.Next.Name], w.Prev, func(p *farm.ResourcePool) int64 { return p.Version }); err != nil {
			return err
		}
	}
	for _, w := range tx.Resources {
		key := resourceKey(w.Next.Pool, w.Next.Name)
		if err := once("resource", key); err != nil {
			return err
		}
		if err := versionCheck("resource "+key, s.resources[key], w.Prev, func(r *farm.Resource) int64 { return r.Version }); err != nil {
			return err
		}
	}
	for _, t := range tx.Tokens {
		if s.tokens[t.Hash] != nil {
			return conflict("token already exists")
		}
	}
	for _, w := range tx.Tallies {
		if err := once("tally", w.Next.JobID); err != nil {
			return err
		}
		if err := versionCheck("dependent tally of "+w.Next.JobID, s.tallies[w.Next.JobID], w.Prev, func(t *store.DependentTally) int64 { return t.Version }); err != nil {
			return err
		}
	}
	if w := tx.Idempotency; w != nil {
		cur := s.idempotency[w.Next.Key]
		switch {
		case w.Prev == nil && cur != nil && cur.ExpiresAt.After(w.Next.CreatedAt):
			return &farm.Error{Code: farm.EConflict, Message: fmt.Sprintf("idempotency key %q already used", w.Next.Key), Err: store.ErrIdempotencyKeyTaken}
		case w.Prev != nil && (cur == nil || cur.Status != w.Prev.Status || cur.JobID != w.Prev.JobID):
			return conflict("idempotency record %q changed since it was read", w.Next.Key)
		}
	}
	return s.checkAuthGen(tx.AuthGen)
}

func versionCheck[T any](what string, cur, prev *T, version func(*T) int64) error {
	switch {
	case prev == nil && cur != nil:
		return conflict("%s already exists", what)
	case prev != nil && (cur == nil || version(cur) != version(prev)):
		return conflict("%s changed since it was read", what)
	}
	return nil
}

func resourceKey(pool, name string) string { return pool + "/" + name }

// GetJob returns a copy of the job.
func (s *Store) GetJob(_ context.Context, id string) (*farm.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return nil, farm.Errorf(farm.ENotFound, "job %s not found", id)
	}
	return j.Clone(), nil
}

// ListJobs lists newest first (ids are time-ordered). Like the DynamoDB
// store it reads one index — the jobs of the filter's status while they wait
// or run, else of its requester, else of its status, type or pool, else all
// — and examines at most f.Scan of its entries.
func (s *Store) ListJobs(_ context.Context, f store.JobFilter) (*store.JobPage, error) {
	f, err := store.NormalizeFilter(f)
	if err != nil {
		return nil, err
	}
	after, _ := store.DecodeCursor(f.Cursor)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The entries the DynamoDB store examines: the active jobs (lease
	// index), the waiting ones (waiting index), or every job.
	inIndex := func(j *farm.Job) bool {
		switch {
		case f.Status.Active():
			return j.Status.Active()
		case f.Status == farm.StatusWaiting:
			return j.Status == farm.StatusWaiting
		}
		return true
	}
	ids := make([]string, 0, len(s.jobs))
	for id, j := range s.jobs {
		if (after == "" || id < after) && inIndex(j) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	page := &store.JobPage{Jobs: []*farm.Job{}}
	for n, id := range ids {
		if n == f.Scan {
			// The scan bound: continue after the last entry examined.
			page.NextCursor = store.EncodeCursor(ids[n-1])
			break
		}
		j := s.jobs[id]
		if (f.Status != "" && j.Status != f.Status) || (f.Type != "" && j.Type != f.Type) || (f.Pool != "" && j.Pool != f.Pool) ||
			(f.RequestedBy != "" && j.RequestedBy != f.RequestedBy) {
			continue
		}
		if len(page.Jobs) == f.Limit {
			// One more matches: continue after the last one returned.
			page.NextCursor = store.EncodeCursor(page.Jobs[len(page.Jobs)-1].ID)
			break
		}
		page.Jobs = append(page.Jobs, j.Clone())
	}
	return page, nil
}

// RecentStarts lists the time to start of the pool's jobs that started at
// or after since, latest start first.
func (s *Store) RecentStarts(_ context.Context, pool string, since time.Time, limit int) ([]float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var started []*farm.Job
	for _, j := range s.jobs {
		if j.Pool == pool && j.StartedAt != nil && j.TimeToStartSeconds != nil && !j.StartedAt.Before(since) {
			started = append(started, j)
		}
	}
	slices.SortFunc(started, func(a, b *farm.Job) int {
		if c := b.StartedAt.Compare(*a.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	out := make([]float64, 0, min(limit, len(started)))
	for _, j := range started[:min(limit, len(started))] {
		out = append(out, *j.TimeToStartSeconds)
	}
	return out, nil
}

// QueuedJobs returns the pool's queue in dispatch order.
func (s *Store) QueuedJobs(_ context.Context, pool string, limit int) ([]*farm.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*farm.Job
	for _, j := range s.jobs {
		if j.Status == farm.StatusQueued && j.Pool == pool {
			out = append(out, j.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *farm.Job) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out[:min(limit, len(out))], nil
}

func (s *Store) activeBy(now time.Time, limit int, at func(*farm.Job) (time.Time, bool)) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*farm.Job
	for _, j := range s.jobs {
		if t, ok := at(j); ok && j.Status.Active() && t.Before(now) {
			out = append(out, j.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *farm.Job) int {
		ta, _ := at(a)
		tb, _ := at(b)
		return ta.Compare(tb)
	})
	if limit <= 0 {
		limit = len(out)
	}
	ids := make([]string, 0, min(limit, len(out)))
	for _, j := range out[:min(limit, len(out))] {
		ids = append(ids, j.ID)
	}
	return ids
}

// DueJobs lists active jobs whose reap_at passed, soonest first.
func (s *Store) DueJobs(_ context.Context, now time.Time, limit int) ([]string, error) {
	return s.activeBy(now, limit, reapAt), nil
}

// reapAt is the job's place on the reap index (as dynamostore keeps it:
// its lease's expiry for a job written without one).
func reapAt(j *farm.Job) (time.Time, bool) {
	switch {
	case j.ReapAt != nil:
		return *j.ReapAt, true
	case j.LeaseExpiresAt != nil:
		return *j.LeaseExpiresAt, true
	}
	return time.Time{}, false
}

// ActiveJobs lists active jobs (of builder, or all), soonest reap_at first.
func (s *Store) ActiveJobs(_ context.Context, builder string, limit int) ([]store.ActiveJob, error) {
	ids := s.activeBy(time.Unix(1<<40, 0), 0, reapAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []store.ActiveJob{}
	for _, id := range ids {
		j := s.jobs[id]
		if j == nil || (builder != "" && j.Builder != builder) {
			continue
		}
		at, _ := reapAt(j)
		a := store.ActiveJob{ID: j.ID, Builder: j.Builder, Pool: j.Pool, Type: j.Type, ReapAt: at}
		if j.StartedAt != nil {
			a.StartedAt = *j.StartedAt
		}
		out = append(out, a)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// JobEvents returns the job's history, oldest first.
func (s *Store) JobEvents(_ context.Context, id string) ([]farm.JobEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return nil, farm.Errorf(farm.ENotFound, "job %s not found", id)
	}
	return append([]farm.JobEvent{}, j.History...), nil
}

// GetIdempotency returns a live idempotency record.
func (s *Store) GetIdempotency(_ context.Context, key string, now time.Time) (*farm.Idempotency, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.idempotency[key]
	if rec == nil || !rec.ExpiresAt.After(now) {
		return nil, farm.Errorf(farm.ENotFound, "no idempotency record for %q", key)
	}
	c := *rec
	return &c, nil
}

// GetBuilder returns a copy of the builder.
func (s *Store) GetBuilder(_ context.Context, name string) (*farm.Builder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.builders[name]
	if b == nil {
		return nil, farm.Errorf(farm.ENotFound, "builder %s not found", name)
	}
	return b.Clone(), nil
}

// ListBuilders lists builders by name.
func (s *Store) ListBuilders(_ context.Context) ([]*farm.Builder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*farm.Builder, 0, len(s.builders))
	for _, b := range s.builders {
		out = append(out, b.Clone())
	}
	slices.SortFunc(out, func(a, b *farm.Builder) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// GetToken returns the token with the given hash.
func (s *Store) GetToken(_ context.Context, hash string) (*farm.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[hash]
	if t == nil {
		return nil, farm.Errorf(farm.ENotFound, "token not found")
	}
	return t.Clone(), nil
}

// ListTokens lists the tokens, oldest first.
func (s *Store) ListTokens(_ context.Context) ([]*farm.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*farm.Token, 0, len(s.tokens))
	for _, t := range s.tokens {
		out = append(out, t.Clone())
	}
	slices.SortFunc(out, func(a, b *farm.Token) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteToken deletes the token with id.
func (s *Store) DeleteToken(_ context.Context, id string) (*farm.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for hash, t := range s.tokens {
		if t.ID == id {
			delete(s.tokens, hash)
			return t.Clone(), nil
		}
	}
	return nil, farm.Errorf(farm.ENotFound, "token %s not found", id)
}

// GetDependentTally returns the count of id's dependents.
func (s *Store) GetDependentTally(_ context.Context, id string) (*store.DependentTally, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tallies[id]; t != nil {
		c := *t
		return &c, nil
	}
	return &store.DependentTally{JobID: id}, nil
}

// Dependents lists the jobs registered as waiting for id, in id order.
func (s *Store) Dependents(_ context.Context, id string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.dependents[id]))
	for d := range s.dependents[id] {
		out = append(out, d)
	}
	slices.Sort(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// GetResourcePool returns a copy of the pool.
func (s *Store) GetResourcePool(_ context.Context, name string) (*farm.ResourcePool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[name]
	if p == nil {
		return nil, farm.Errorf(farm.ENotFound, "resource pool %s not found", name)
	}
	return p.Clone(), nil
}

// ListResourcePools lists copies of every pool, by name.
func (s *Store) ListResourcePools(_ context.Context) ([]*farm.ResourcePool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*farm.ResourcePool, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p.Clone())
	}
	slices.SortFunc(out, func(a, b *farm.ResourcePool) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// GetResource returns a copy of the resource.
func (s *Store) GetResource(_ context.Context, pool, name string) (*farm.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.resources[resourceKey(pool, name)]
	if r == nil {
		return nil, farm.Errorf(farm.ENotFound, "resource %s not found in pool %s", name, pool)
	}
	return r.Clone(), nil
}

// ListResources lists a pool's resources by name.
func (s *Store) ListResources(_ context.Context, pool string) ([]*farm.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*farm.Resource
	for _, r := range s.resources {
		if r.Pool == pool {
			out = append(out, r.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *farm.Resource) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ExpiredResourceLeases lists used resources whose lease expired, soonest first.
func (s *Store) ExpiredResourceLeases(_ context.Context, now time.Time, limit int) ([]*farm.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*farm.Resource
	for _, r := range s.resources {
		if r.State == farm.ResourceUsed && r.LeaseExpiresAt != nil && r.LeaseExpiresAt.Before(now) {
			out = append(out, r.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *farm.Resource) int { return a.LeaseExpiresAt.Compare(*b.LeaseExpiresAt) })
	return out[:min(limit, len(out))], nil
}
