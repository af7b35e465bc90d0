package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Resource pool limits and defaults.
const (
	DefaultResourceLeaseSeconds = 3600
	MaxResourceLeaseSeconds     = 7 * 24 * 3600
	MaxCleanFailures            = 3
)

// ResourcePoolUpdate changes a pool; nil fields keep their value.
type ResourcePoolUpdate struct {
	Description  *string
	LeaseSeconds *int
	CleanScript  *string
}

// PutResourcePool creates or updates a resource pool. created is true for a new one.
func (s *Scheduler) PutResourcePool(ctx context.Context, name string, u ResourcePoolUpdate) (pool *farm.ResourcePool, created bool, err error) {
	if err := farm.CheckName("pool", name); err != nil {
		return nil, false, err
	}
	if u.LeaseSeconds != nil && (*u.LeaseSeconds < 1 || *u.LeaseSeconds > MaxResourceLeaseSeconds) {
		return nil, false, farm.FieldError("lease_seconds", "must be between 1 and %d", MaxResourceLeaseSeconds)
	}
	if u.CleanScript != nil && len(*u.CleanScript) > farm.MaxCleanScriptBytes {
		return nil, false, farm.FieldError("clean_script", "is longer than %d bytes", farm.MaxCleanScriptBytes)
	}
	if u.Description != nil && len(*u.Description) > 1024 {
		return nil, false, farm.FieldError("description", "is longer than 1024 characters")
	}
	err = retryOnConflict(ctx, func() error {
		now := s.clock()
		cur, err := s.store.GetResourcePool(ctx, name)
		if err != nil && !farm.IsCode(err, farm.ENotFound) {
			return err
		}
		next := &farm.ResourcePool{Name: name, LeaseSeconds: DefaultResourceLeaseSeconds, CreatedAt: now, Version: 1}
		if cur != nil {
			next = cur.Clone()
			next.Version++
		}
		if u.Description != nil {
			next.Description = *u.Description
		}
		if u.LeaseSeconds != nil {
			next.LeaseSeconds = *u.LeaseSeconds
		}
		if u.CleanScript != nil {
			next.CleanScript = *u.CleanScript
		}
		next.UpdatedAt = now
		if err := s.store.Commit(ctx, Tx{Pools: []PoolWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		pool, created = next, cur == nil
		return nil
	})
	return pool, created, err
}

// AddResource adds a free resource to a pool.
func (s *Scheduler) AddResource(ctx context.Context, pool, name string, attrs map[string]string) (*farm.Resource, error) {
	if _, err := s.store.GetResourcePool(ctx, pool); err != nil {
		return nil, err
	}
	if err := farm.CheckResource(name, attrs); err != nil {
		return nil, err
	}
	r := &farm.Resource{Pool: pool, Name: name, Attributes: attrs, State: farm.ResourceFree, UpdatedAt: s.clock(), Version: 1}
	err := s.store.Commit(ctx, Tx{Resources: []ResourceWrite{{Next: r}}})
	if errors.Is(err, ErrLostRace) {
		return nil, farm.Errorf(farm.EConflict, "resource %s already exists in pool %s", name, pool)
	}
	return r, err
}

// ResourcePool returns a pool and its resources.
func (s *Scheduler) ResourcePool(ctx context.Context, name string) (*farm.ResourcePool, []*farm.Resource, error) {
	p, err := s.store.GetResourcePool(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	rs, err := s.listResources(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return p, rs, nil
}

// listResources lists a pool's resources with each one being cleaned
// brought in line with its clean job first. The job's end is the truth; the
// resource follows it right after (in the same request, or through the
// dispatcher), and reading through here means no reader ever sees a
// resource lag behind a clean job that already ended.
func (s *Scheduler) listResources(ctx context.Context, pool string) ([]*farm.Resource, error) {
	rs, err := s.store.ListResources(ctx, pool)
	if err != nil {
		return nil, err
	}
	for i, r := range rs {
		if r.CleanJobID == "" || (r.State != farm.ResourceDirty && r.State != farm.ResourceCleaning) {
			continue
		}
		job, err := s.store.GetJob(ctx, r.CleanJobID)
		if err != nil {
			return nil, err
		}
		if job.Status.Terminal() || job.Status.Active() {
			if err := s.settleCleanedResource(ctx, job); err != nil {
				return nil, err
			}
			if rs[i], err = s.store.GetResource(ctx, pool, r.Name); err != nil {
				return nil, err
			}
		}
	}
	if rs == nil {
		rs = []*farm.Resource{}
	}
	return rs, nil
}

// Acquire hands a free resource of pool to holder under a new lease token:
// a write conditional on the resource being unchanged, so a resource never
// goes to two holders. Concurrent acquirers start at different resources to
// spread contention; ENoneFree when none is free.
func (s *Scheduler) Acquire(ctx context.Context, poolName, holder, acquiredBy string, leaseSeconds int) (*farm.Resource, error) {
	if strings.TrimSpace(holder) == "" || len(holder) > 256 {
		return nil, farm.FieldError("holder", "is required (at most 256 characters)")
	}
	pool, err := s.store.GetResourcePool(ctx, poolName)
	if err != nil {
		return nil, err
	}
	if leaseSeconds == 0 {
		leaseSeconds = pool.LeaseSeconds
	}
	if leaseSeconds < 1 || leaseSeconds > MaxResourceLeaseSeconds {
		return nil, farm.FieldError("lease_seconds", "must be between 1 and %d", MaxResourceLeaseSeconds)
	}
	for round := 0; round < 5; round++ {
		all, err := s.listResources(ctx, poolName)
		if err != nil {
			return nil, err
		}
		var free []*farm.Resource
		for _, r := range all {
			if r.State == farm.ResourceFree {
				free = append(free, r)
			}
		}
		if len(free) == 0 {
			return nil, farm.Errorf(farm.ENoneFree, "no free resource in pool %s (%d resources)", poolName, len(all))
		}
		start := rand.IntN(len(free))
		for i := range free {
			r := free[(start+i)%len(free)]
			now := s.clock()
			next := r.Clone()
			next.State, next.Holder, next.AcquiredBy, next.LeaseToken = farm.ResourceUsed, holder, acquiredBy, farm.NewSecret(16)
			next.LeaseExpiresAt = farm.TimePtr(now.Add(time.Duration(leaseSeconds) * time.Second))
			next.UpdatedAt, next.Version = now, r.Version+1
			err := s.store.Commit(ctx, Tx{Resources: []ResourceWrite{{Prev: r, Next: next}}})
			if errors.Is(err, ErrLostRace) {
				continue
			}
			if err != nil {
				return nil, err
			}
			s.log.InfoContext(ctx, "resource acquired", "pool", poolName, "resource", r.Name, "holder", holder)
			return next, nil
		}
	}
	return nil, farm.Errorf(farm.ENoneFree, "no free resource in pool %s could be taken (all contended)", poolName)
}

// Release gives a resource back (only with its lease token): it becomes
// dirty and a clean-resource job is queued; it is free again when that job
// succeeds.
func (s *Scheduler) Release(ctx context.Context, poolName, name, leaseToken, actor string) (*farm.Resource, error) {
	r, err := s.store.GetResource(ctx, poolName, name)
	if err != nil {
		return nil, err
	}
	if r.State != farm.ResourceUsed || leaseToken == "" || r.LeaseToken != leaseToken {
		return nil, farm.Errorf(farm.EConflict, "resource %s is not held under that lease token (it is %s)", name, r.State)
	}
	return s.dirty(ctx, r, actor, "released by "+r.Holder)
}

// dirty takes a used resource from its holder and queues its cleaning. The
// clean job's id derives from the lease, so a release racing the lease's
// expiry makes one clean job, not two.
func (s *Scheduler) dirty(ctx context.Context, r *farm.Resource, actor, why string) (*farm.Resource, error) {
	pool, err := s.store.GetResourcePool(ctx, r.Pool)
	if err != nil {
		return nil, err
	}
	cleanID := farm.DerivedID(r.UpdatedAt, "clean/"+r.Pool+"/"+r.Name+"/"+r.LeaseToken)
	payload, err := json.Marshal(farm.CleanResourceArgs{ResourcePool: r.Pool, Resource: r.Name, CleanScript: pool.CleanScript})
	if err != nil {
		return nil, farm.Internal(err)
	}
	now := s.clock()
	job, err := s.newJob(SubmitRequest{Type: farm.TypeCleanResource, Payload: payload, RequestedBy: actor, Internal: true}, now)
	if err != nil {
		return nil, err
	}
	job.ID = cleanID
	if err := s.create(ctx, job, now); err != nil && !errors.Is(err, ErrLostRace) {
		return nil, err
	}
	next := r.Clone()
	next.State, next.Holder, next.AcquiredBy, next.LeaseToken, next.LeaseExpiresAt = farm.ResourceDirty, "", "", "", nil
	next.CleanJobID, next.UpdatedAt, next.Version = cleanID, now, r.Version+1
	if err := s.store.Commit(ctx, Tx{Resources: []ResourceWrite{{Prev: r, Next: next}}}); err != nil {
		if errors.Is(err, ErrLostRace) {
			return nil, farm.Errorf(farm.EConflict, "resource %s changed while being released; its lease may have expired", r.Name)
		}
		return nil, err
	}
	s.ring(ctx, job, 0)
	s.log.InfoContext(ctx, "resource dirty; cleaning queued", "pool", r.Pool, "resource", r.Name, "clean_job_id", cleanID, "why", why)
	return next, nil
}

// expireResourceLeases takes resources back from holders whose lease ran
// out: they go to dirty (never straight to free) and are cleaned.
func (s *Scheduler) expireResourceLeases(ctx context.Context) (int, error) {
	expired, err := s.store.ExpiredResourceLeases(ctx, s.clock(), reapBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range expired {
		if _, err := s.dirty(ctx, r, "reaper", "lease of "+r.Holder+" expired"); err != nil {
			if !farm.IsCode(err, farm.EConflict) {
				errs = append(errs, err)
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// settleCleanedResource moves the resource a clean-resource job works on:
// cleaning while the job runs, free when it succeeded, and when it failed
// dirty again with the job retried, until MaxCleanFailures flags it for an
// admin (who may retry the clean job by hand).
func (s *Scheduler) settleCleanedResource(ctx context.Context, job *farm.Job) error {
	var args farm.CleanResourceArgs
	if err := json.Unmarshal(job.Payload, &args); err != nil {
		return fmt.Errorf("clean job %s: %w", job.ID, err)
	}
	retry := false
	err := retryOnConflict(ctx, func() error {
		retry = false
		r, err := s.store.GetResource(ctx, args.ResourcePool, args.Resource)
		if farm.IsCode(err, farm.ENotFound) {
			return nil
		}
		if err != nil || r.CleanJobID != job.ID || job.Version <= r.CleanJobVersion {
			return err // a stale clean job, or a change already followed
		}
		next := r.Clone()
		next.CleanJobVersion = job.Version
		switch {
		case job.Status.Active():
			next.State = farm.ResourceCleaning
		case job.Status == farm.StatusSucceeded:
			next.State, next.CleanJobID, next.CleanFailures, next.Flagged = farm.ResourceFree, "", 0, ""
		case job.Status.Terminal():
			next.State = farm.ResourceDirty
			next.CleanFailures++
			if next.CleanFailures >= MaxCleanFailures {
				next.Flagged = fmt.Sprintf("cleaning failed %d times (last: job %s %s: %s); retry the clean job once the resource is fixed", next.CleanFailures, job.ID, job.Status, job.Error)
			} else {
				retry = true
			}
		default:
			next.State = farm.ResourceDirty
		}
		next.UpdatedAt, next.Version = s.clock(), r.Version+1
		return s.store.Commit(ctx, Tx{Resources: []ResourceWrite{{Prev: r, Next: next}}})
	})
	if err == nil && retry {
		_, err = s.Retry(ctx, "resource-pools", job.ID)
	}
	return err
}
