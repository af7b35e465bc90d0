// Package builders keeps the farm's builders: registration, disabling and
// enabling by an admin, reads, and their health as the work on them goes —
// a heartbeat says the builder is alive and which jobs it runs, a lost
// lease counts against it, and a builder silent for a lease is lost.
// Claims and completions write no builder item: a builder's current jobs
// are the ones its heartbeats report, and its slots are its own agent's to
// keep (it claims only with a free slot).
package builders

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/authgen"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service runs the builders' use cases.
type Service struct {
	store  Store
	follow FollowUp
	jobs   store.JobWriter
	queues Queues
	pools  farm.Pools
	policy farm.Policy
	clock  func() time.Time
	log    *slog.Logger
	// cache keeps builder records for claims (cache.go), for cacheTTL
	// (<= 0: not at all), validated by watch when set.
	cache    *authgen.Cache[*farm.Builder]
	cacheTTL time.Duration
	watch    *authgen.Watcher
}

// Options configure a Service.
type Options struct {
	Store Store
	// FollowUp, when set, does the follow-up work of the jobs a restarted
	// builder's registration takes back (rings their pools).
	FollowUp FollowUp
	// Queues, when set, names the doorbell queues a registration answers.
	Queues Queues
	// Pools are the builder pools the farm serves.
	Pools  farm.Pools
	Policy farm.Policy
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
	// CacheTTL is how long claims trust a builder record (default
	// DefaultCacheTTL, or WatchedCacheTTL with a Watcher; negative: never
	// cached).
	CacheTTL time.Duration
	// Watcher, when set, validates the cached records against the auth
	// generation (authgen.Watcher).
	Watcher *authgen.Watcher
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, follow: o.FollowUp, queues: o.Queues, pools: o.Pools, policy: o.Policy.WithDefaults(), clock: o.Clock, log: o.Logger,
		cache: newClaimantCache(), cacheTTL: o.CacheTTL, watch: o.Watcher}
	switch {
	case s.cacheTTL == 0 && s.watch != nil:
		s.cacheTTL = WatchedCacheTTL
	case s.cacheTTL == 0:
		s.cacheTTL = DefaultCacheTTL
	}
	if s.watch != nil {
		s.watch.Watch(s.cache)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.jobs = store.JobWriter{Store: o.Store, Policy: s.policy, Clock: s.clock}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

func (s *Service) now() time.Time { return store.Now(s.clock) }

// Registration is what a builder learns when it registers: its record,
// the doorbell queue of each of its pools, and how often to heartbeat.
type Registration struct {
	Builder   *farm.Builder
	QueueURLs map[string]string
	Heartbeat time.Duration
	Lease     time.Duration
}

// Register creates or updates builder name from its registration, for a
// caller that may use every pool the builder serves. Its health record
// (failures, disabled state, current jobs) survives re-registration; a lost
// builder that registers again is back, and a builder registers as clean
// (freshly started or reset machine). A builder that registers with
// another boot id than the one recorded restarted: the jobs it held are
// taken back at once (restart.go).
func (s *Service) Register(ctx context.Context, by farm.Principal, name string, spec farm.BuilderSpec) (*Registration, error) {
	for _, pool := range spec.Pools {
		if !by.MayUsePool(pool) {
			return nil, farm.Errorf(farm.EForbidden, "this token is bound to pools %s; it may not register for pool %q", strings.Join(by.Pools, ", "), farm.Clip(pool))
		}
	}
	b, err := s.register(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	if s.queues != nil {
		urls = s.queues.QueueURLs(b.Pools)
	}
	return &Registration{Builder: b, QueueURLs: urls, Heartbeat: s.policy.Heartbeat, Lease: s.policy.Lease}, nil
}

func (s *Service) register(ctx context.Context, name string, spec farm.BuilderSpec) (*farm.Builder, error) {
	if err := farm.CheckName("name", name); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	for i, p := range spec.Pools {
		if !s.pools.Serves(p) {
			return nil, farm.FieldError("pools", "pools[%d]: this farm does not serve pool %q (pools: %s)", i, p, s.pools)
		}
	}
	var (
		out   *farm.Builder
		taken []*farm.Job
		boot  string
	)
	err := store.RetryOnConflict(ctx, func() error {
		cur, err := s.store.GetBuilder(ctx, name)
		if err != nil && !farm.IsCode(err, farm.ENotFound) {
			return err
		}
		if cur.Restarted(spec.BootID) {
			boot = cur.BootID
			more, err := s.takeBackClaims(ctx, cur, spec.BootID)
			taken = append(taken, more...)
			if err != nil {
				return err
			}
		}
		now := s.now()
		var next *farm.Builder
		if cur == nil {
			next = &farm.Builder{Name: name, CleanStatus: farm.CleanClean, CurrentJobs: []string{}, RegisteredAt: now, Version: 1}
		} else {
			next = cur.Clone()
			next.Version++
			if next.State == farm.BuilderLost {
				next.State = farm.BuilderIdle
			}
		}
		next.Kind, next.Arch, next.Slots, next.Metadata = spec.Kind, spec.Arch, spec.Slots, spec.Metadata
		next.Pools = slices.Clone(spec.Pools)
		next.Capabilities = slices.Clone(spec.Capabilities)
		if next.Capabilities == nil {
			next.Capabilities = []string{}
		}
		if spec.BootID != "" {
			next.BootID = spec.BootID
		}
		s.forgetTaken(next, taken)
		next.Draining = false
		next.CleanStatus = farm.CleanClean
		next.LastHeartbeat = farm.TimePtr(now)
		next.UpdatedAt = now
		next.Refresh()
		if err := s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		out = next
		return nil
	})
	s.afterRestart(ctx, name, boot, spec.BootID, taken)
	if err == nil {
		s.log.InfoContext(ctx, "builder registered", "builder", name, "pools", spec.Pools, "slots", spec.Slots, "boot_id", spec.BootID)
	}
	return out, err
}

// afterRestart logs a restart's jobs taken back and does their follow-up
// work (a requeued job's pool is rung at once).
func (s *Service) afterRestart(ctx context.Context, name, oldBoot, newBoot string, taken []*farm.Job) {
	if len(taken) == 0 {
		return
	}
	ids := make([]string, 0, len(taken))
	for _, j := range taken {
		ids = append(ids, j.ID)
		if s.follow != nil {
			s.follow.After(ctx, j)
		}
	}
	s.log.WarnContext(ctx, "builder restarted: the jobs of its old boot are taken back", "builder", name, "old_boot_id", oldBoot, "boot_id", newBoot, "jobs", ids)
}

// MaxReason bounds a disable or enable reason.
const MaxReason = 1000

// Disable stops a builder from claiming work; running jobs finish.
func (s *Service) Disable(ctx context.Context, by farm.Principal, name, reason string) (*farm.Builder, error) {
	if len(reason) > MaxReason {
		return nil, farm.FieldError("reason", "is longer than %d characters", MaxReason)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, farm.FieldError("reason", "is required")
	}
	actor := by.Actor()
	return s.update(ctx, name, func(b *farm.Builder) {
		b.Disabled = true
		b.DisabledReason = reason + " (by " + actor + ")"
	})
}

// Enable lets a disabled builder claim work again and clears its failure count.
func (s *Service) Enable(ctx context.Context, by farm.Principal, name, reason string) (*farm.Builder, error) {
	if len(reason) > MaxReason {
		return nil, farm.FieldError("reason", "is longer than %d characters", MaxReason)
	}
	actor := by.Actor()
	return s.update(ctx, name, func(b *farm.Builder) {
		b.Disabled = false
		b.DisabledReason = ""
		b.ConsecutiveFailures = 0
		s.log.InfoContext(ctx, "builder enabled", "builder", name, "by", actor, "reason", reason)
	})
}

func (s *Service) update(ctx context.Context, name string, change func(*farm.Builder)) (*farm.Builder, error) {
	var out *farm.Builder
	err := store.RetryOnConflict(ctx, func() error {
		cur, err := s.store.GetBuilder(ctx, name)
		if err != nil {
			return err
		}
		next := cur.Clone()
		change(next)
		next.Version++
		next.UpdatedAt = s.now()
		next.Refresh()
		if err := s.commit(ctx, store.Tx{Builders: []store.BuilderWrite{{Prev: cur, Next: next}}}); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// Get returns builder name, with the jobs it holds.
func (s *Service) Get(ctx context.Context, name string) (*farm.Builder, error) {
	b, err := s.store.GetBuilder(ctx, name)
	if err != nil {
		return nil, err
	}
	return b, store.FillCurrentJobs(ctx, s.store, b)
}

// List returns every builder, with the jobs each holds.
func (s *Service) List(ctx context.Context) ([]*farm.Builder, error) {
	bs, err := s.store.ListBuilders(ctx)
	if bs == nil && err == nil {
		bs = []*farm.Builder{}
	}
	if err != nil {
		return nil, err
	}
	return bs, store.FillCurrentJobs(ctx, s.store, bs...)
}
