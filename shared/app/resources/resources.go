// Package resources is the farm's resource pools (Launchpad's PPA-assigner
// pattern): named pools of reusable resources handed out synchronously
// under a lease token, released only by their holder, and cleaned by a
// clean-resource job before they are free again — free → used → dirty →
// (cleaning) → free, all of it in the store, so a restart from scratch
// loses nothing.
package resources

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Resource pool limits and defaults.
const (
	DefaultResourceLeaseSeconds = 3600
	MaxResourceLeaseSeconds     = 7 * 24 * 3600
	// MaxDescription bounds a pool's description.
	MaxDescription = 1024
	// MaxHolder bounds a holder's name.
	MaxHolder = 256
)

// Service runs the resource pools' use cases.
type Service struct {
	store  Store
	jobs   Jobs
	follow FollowUp
	admit  *admission.Admission
	clock  func() time.Time
	log    *slog.Logger
}

// Options configure a Service.
type Options struct {
	Store     Store
	Jobs      Jobs
	FollowUp  FollowUp
	Admission *admission.Admission
	Clock     func() time.Time // default time.Now
	Logger    *slog.Logger     // default slog.Default()
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, jobs: o.Jobs, follow: o.FollowUp, admit: o.Admission, clock: o.Clock, log: o.Logger}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

func (s *Service) now() time.Time { return store.Now(s.clock) }

// PoolUpdate changes a pool; nil fields keep their value.
type PoolUpdate struct {
	Description  *string
	LeaseSeconds *int
	CleanScript  *string
}

// PutPool creates or updates a resource pool. created is true for a new one.
func (s *Service) PutPool(ctx context.Context, name string, u PoolUpdate) (pool *farm.ResourcePool, created bool, err error) {
	if err := farm.CheckName("pool", name); err != nil {
		return nil, false, err
	}
	if u.LeaseSeconds != nil && (*u.LeaseSeconds < 1 || *u.LeaseSeconds > MaxResourceLeaseSeconds) {
		return nil, false, farm.FieldError("lease_seconds", "must be between 1 and %d", MaxResourceLeaseSeconds)
	}
	if u.CleanScript != nil && len(*u.CleanScript) > farm.MaxCleanScriptBytes {
		return nil, false, farm.FieldError("clean_script", "is longer than %d bytes", farm.MaxCleanScriptBytes)
	}
	if u.Description != nil && len(*u.Description) > MaxDescription {
		return nil, false, farm.FieldError("description", "is longer than %d characters", MaxDescription)
	}
	err = store.RetryOnConflict(ctx, func() error {
		now := s.now()
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
		if err := s.store.Commit(ctx, store.Tx{Pools: []store.PoolWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		pool, created = next, cur == nil
		return nil
	})
	if err == nil && created {
		s.log.InfoContext(ctx, "resource pool created", "pool", pool.Name)
	}
	return pool, created, err
}

// AddResource adds a free resource to a pool.
func (s *Service) AddResource(ctx context.Context, pool, name string, attrs map[string]string) (*farm.Resource, error) {
	if _, err := s.store.GetResourcePool(ctx, pool); err != nil {
		return nil, err
	}
	if err := farm.CheckResource(name, attrs); err != nil {
		return nil, err
	}
	r := &farm.Resource{Pool: pool, Name: name, Attributes: attrs, State: farm.ResourceFree, UpdatedAt: s.now(), Version: 1}
	err := s.store.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Next: r}}})
	if errors.Is(err, store.ErrLostRace) {
		return nil, farm.Errorf(farm.EConflict, "resource %s already exists in pool %s", name, pool)
	}
	return r, err
}

// Pools lists every resource pool, by name.
func (s *Service) Pools(ctx context.Context) ([]*farm.ResourcePool, error) {
	pools, err := s.store.ListResourcePools(ctx)
	if pools == nil && err == nil {
		pools = []*farm.ResourcePool{}
	}
	return pools, err
}

// Pool returns a pool and its resources.
func (s *Service) Pool(ctx context.Context, name string) (*farm.ResourcePool, []*farm.Resource, error) {
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
func (s *Service) listResources(ctx context.Context, pool string) ([]*farm.Resource, error) {
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
			if err := s.follow.SettleClean(ctx, job); err != nil {
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

// Acquire hands a free resource of pool to holder for by, under a new lease
// token: a write conditional on the resource being unchanged, so a
// resource never goes to two holders. Concurrent acquirers start at
// different resources to spread contention; ENoneFree when none is free.
// leaseSeconds 0 takes the pool's lease.
func (s *Service) Acquire(ctx context.Context, by farm.Principal, poolName, holder string, leaseSeconds int) (*farm.Resource, error) {
	if strings.TrimSpace(holder) == "" || len(holder) > MaxHolder {
		return nil, farm.FieldError("holder", "is required (at most %d characters)", MaxHolder)
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
			now := s.now()
			next := r.Clone()
			next.State, next.Holder, next.AcquiredBy, next.LeaseToken = farm.ResourceUsed, holder, by.Actor(), farm.NewSecret(16)
			next.LeaseExpiresAt = farm.TimePtr(now.Add(time.Duration(leaseSeconds) * time.Second))
			next.UpdatedAt, next.Version = now, r.Version+1
			err := s.store.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Prev: r, Next: next}}})
			if errors.Is(err, store.ErrLostRace) {
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

// Release gives a resource back, for the principal that acquired it (or an
// admin) and only with its lease token: it becomes dirty and a
// clean-resource job is queued; it is free again when that job succeeds.
// A resource nobody holds is left to the token check, which refuses any
// token with a conflict (a stale token stays a 409 for its former holder).
//
// The caller's token existed before the resource is read, and a token is
// current at most once: a release that succeeds is for the holding the read
// showed, whose acquirer is checked, and the write is conditional on that
// read.
func (s *Service) Release(ctx context.Context, by farm.Principal, poolName, name, leaseToken string) (*farm.Resource, error) {
	if leaseToken == "" {
		return nil, farm.FieldError("lease_token", "is required")
	}
	r, err := s.store.GetResource(ctx, poolName, name)
	if err != nil {
		return nil, err
	}
	if by.Role != farm.RoleAdmin && r.State == farm.ResourceUsed && r.AcquiredBy != by.Actor() {
		return nil, farm.Errorf(farm.EForbidden, "resource %s was acquired by %s; only they or an admin may release it", r.Name, r.AcquiredBy)
	}
	if r.State != farm.ResourceUsed || r.LeaseToken != leaseToken {
		return nil, farm.Errorf(farm.EConflict, "resource %s is not held under that lease token (it is %s)", name, r.State)
	}
	return s.dirty(ctx, r, by.Actor(), "released by "+r.Holder)
}

// dirty takes a used resource from its holder and queues its cleaning. The
// clean job's id derives from the lease, so a release racing the lease's
// expiry makes one clean job, not two.
func (s *Service) dirty(ctx context.Context, r *farm.Resource, actor, why string) (*farm.Resource, error) {
	pool, err := s.store.GetResourcePool(ctx, r.Pool)
	if err != nil {
		return nil, err
	}
	cleanID := farm.DerivedID(r.UpdatedAt, "clean/"+r.Pool+"/"+r.Name+"/"+r.LeaseToken)
	payload, err := json.Marshal(farm.CleanResourceArgs{ResourcePool: r.Pool, Resource: r.Name, CleanScript: pool.CleanScript})
	if err != nil {
		return nil, farm.Internal(err)
	}
	now := s.now()
	job, err := s.admit.NewJob(admission.Request{Type: farm.TypeCleanResource, Payload: payload, RequestedBy: actor, Internal: true}, now)
	if err != nil {
		return nil, err
	}
	job.ID = cleanID
	if err := s.jobs.Create(ctx, job, now); err != nil && !errors.Is(err, store.ErrLostRace) {
		return nil, err
	}
	next := r.Clone()
	next.State, next.Holder, next.AcquiredBy, next.LeaseToken, next.LeaseExpiresAt = farm.ResourceDirty, "", "", "", nil
	next.CleanJobID, next.UpdatedAt, next.Version = cleanID, now, r.Version+1
	if err := s.store.Commit(ctx, store.Tx{Resources: []store.ResourceWrite{{Prev: r, Next: next}}}); err != nil {
		if errors.Is(err, store.ErrLostRace) {
			return nil, farm.Errorf(farm.EConflict, "resource %s changed while being released; its lease may have expired", r.Name)
		}
		return nil, err
	}
	s.follow.Ring(ctx, job, 0)
	s.log.InfoContext(ctx, "resource dirty; cleaning queued", "pool", r.Pool, "resource", r.Name, "clean_job_id", cleanID, "why", why)
	return next, nil
}

// reaperActor takes back resources whose lease ran out.
const reaperActor = "reaper"

// ExpireLeases takes up to limit resources back from holders whose lease
// ran out: they go to dirty (never straight to free) and are cleaned. It
// returns how many it took back.
func (s *Service) ExpireLeases(ctx context.Context, limit int) (int, error) {
	expired, err := s.store.ExpiredResourceLeases(ctx, s.now(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range expired {
		if _, err := s.dirty(ctx, r, reaperActor, "lease of "+r.Holder+" expired"); err != nil {
			if !farm.IsCode(err, farm.EConflict) {
				errs = append(errs, err)
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
