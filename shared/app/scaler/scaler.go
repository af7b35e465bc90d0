package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/metrics"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// Trigger says what started a tick.
type Trigger string

const (
	// TriggerSchedule is the EventBridge schedule (every minute).
	TriggerSchedule Trigger = "schedule"
	// TriggerBurst is a batch of submissions seen on the jobs stream.
	TriggerBurst Trigger = "burst"
)

// Defaults.
const (
	// DefaultLease bounds how long one tick holds a pool (below the function's timeout).
	DefaultLease = 50 * time.Second
	// DefaultMinInterval: a burst tick this soon after the pool's last tick
	// is skipped (the stream's batching window already makes bursts one
	// invocation per window; this absorbs parallel shards).
	DefaultMinInterval = 2 * time.Second
	// ForgetAfter: the builder record of an instance gone from its group is
	// deleted once it has not been heard of for this long.
	ForgetAfter = 5 * time.Minute
)

// Scaler keeps each elastic pool's group sized to its work.
type Scaler struct {
	Fleet   fleet.Config
	Store   Store
	Drainer Drainer
	Groups  Groups
	// Metrics receives the decisions' figures (app/metrics; EMF records in
	// Lambda); nil publishes none.
	Metrics metrics.Publisher
	Logger  *slog.Logger
	Clock   func() time.Time
	// Lease and MinInterval default to DefaultLease and DefaultMinInterval.
	Lease, MinInterval time.Duration
	// RunID names this run in the pools' records (default: a new id).
	RunID string
}

// PoolReport is what one tick did for one pool.
type PoolReport struct {
	Pool    string
	Skipped string // why the pool was left alone this tick ("": it was not)
	fleet.Decision
	// Previous is the group's desired capacity before the tick; Set is
	// whether it was changed.
	Previous int
	Set      bool
	// Removed, Drained and Undrained are what was done (a planned removal
	// or drain is skipped when the builder turned busy meanwhile).
	Removed, Drained, Undrained []string
	Errors                      []string
}

func (s *Scaler) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Scaler) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Tick runs one pass over every elastic pool. A pool's failure does not
// stop the others; the errors are joined.
func (s *Scaler) Tick(ctx context.Context, trigger Trigger) ([]*PoolReport, error) {
	var reps []*PoolReport
	var errs []error
	for _, p := range s.Fleet.Pools {
		rep, err := s.TickPool(ctx, p.Pool, trigger)
		if rep != nil {
			reps = append(reps, rep)
		}
		errs = append(errs, err)
	}
	return reps, errors.Join(errs...)
}

// TickPool takes the pool (a conditional write on its scaler record: two
// overlapping runs never act on one pool at once), plans and applies one
// decision, and gives the pool back with the decision recorded.
func (s *Scaler) TickPool(ctx context.Context, pool string, trigger Trigger) (*PoolReport, error) {
	cfg, ok := s.Fleet.Pool(pool)
	if !ok {
		return nil, fmt.Errorf("scaler: pool %s has no fleet", pool)
	}
	rep := &PoolReport{Pool: pool}
	held, err := s.take(ctx, cfg, trigger, rep)
	if err != nil || held == nil {
		if rep.Skipped != "" {
			s.log().InfoContext(ctx, "scaler tick skipped", "pool", pool, "trigger", trigger, "why", rep.Skipped)
		}
		return rep, err
	}
	plan, err := s.Plan(ctx, cfg, held.Marks)
	if err == nil {
		s.Apply(ctx, cfg, plan, rep)
	}
	s.giveBack(ctx, held, rep, err == nil)
	s.report(ctx, cfg, trigger, rep)
	return rep, err
}

// take claims the pool for this run, or says why not.
func (s *Scaler) take(ctx context.Context, cfg fleet.PoolConfig, trigger Trigger, rep *PoolReport) (*fleet.Record, error) {
	now := s.now()
	rec, err := s.Store.GetScalerRecord(ctx, cfg.Pool)
	if err != nil {
		return nil, err
	}
	switch {
	case now.Before(rec.LeaseUntil):
		rep.Skipped = "another run holds the pool until " + rec.LeaseUntil.Format(time.RFC3339) + " (" + rec.Holder + ")"
		return nil, nil
	case trigger == TriggerBurst && now.Sub(rec.LastTick) < s.minInterval():
		rep.Skipped = fmt.Sprintf("ticked %s ago", now.Sub(rec.LastTick).Round(time.Millisecond))
		return nil, nil
	}
	next := rec.Clone()
	next.LeaseUntil, next.Holder, next.Version = now.Add(s.lease()), s.runID(), rec.Version+1
	if err := s.Store.PutScalerRecord(ctx, rec, next); errors.Is(err, store.ErrLostRace) {
		rep.Skipped = "an overlapping run took the pool first"
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return next, nil
}

// giveBack records the decision and frees the pool.
func (s *Scaler) giveBack(ctx context.Context, held *fleet.Record, rep *PoolReport, planned bool) {
	done := held.Clone()
	done.LeaseUntil, done.Holder, done.Version = time.Time{}, "", held.Version+1
	done.LastTick = s.now()
	if planned {
		done.Desired, done.Reason, done.Marks = rep.Desired, rep.Reason, rep.Marks
	}
	if err := s.Store.PutScalerRecord(ctx, held, done); err != nil {
		// Our lease ran out and another run took the pool: its record stands.
		rep.Errors = append(rep.Errors, "record not written: "+err.Error())
	}
}

// Plan observes the pool — its work, its group, its builders — and decides.
func (s *Scaler) Plan(ctx context.Context, cfg fleet.PoolConfig, marks map[string]fleet.Mark) (*Plan, error) {
	// Beyond this many jobs the target is max whatever the count.
	upTo := 2 * (cfg.Max + 1) * cfg.Slots
	demand, err := s.Store.CountPoolJobs(ctx, cfg.Pool, upTo)
	if err != nil {
		return nil, err
	}
	group, err := s.Groups.Describe(ctx, cfg.Group)
	if err != nil {
		return nil, err
	}
	all, err := s.Store.ListBuilders(ctx)
	if err != nil {
		return nil, err
	}
	// The jobs each builder holds come from the reap index (claims write
	// no builder item): a builder that just claimed is busy, not idle.
	if err := store.FillCurrentJobs(ctx, s.Store, all...); err != nil {
		return nil, err
	}
	obs := fleet.Observation{Demand: demand, Group: group, Builders: map[string]fleet.Builder{}, Marks: marks}
	alive := map[string]bool{}
	for _, in := range group.Instances {
		alive[in.ID] = in.Alive()
	}
	p := &Plan{Group: group}
	for _, b := range all {
		if alive[b.Name] {
			obs.Builders[b.Name] = view(b)
		} else if s.forgettable(cfg, b, alive) {
			p.Forget = append(p.Forget, b)
		}
	}
	p.Decision = fleet.Decide(cfg, obs, s.now())
	return p, nil
}

// Plan is a decision with what it was made from.
type Plan struct {
	fleet.Decision
	Group fleet.Group
	// Forget are builder records of instances gone from the group.
	Forget []*farm.Builder
}

func view(b *farm.Builder) fleet.Builder {
	v := fleet.Builder{Name: b.Name, Jobs: len(b.CurrentJobs), JobsCompleted: b.JobsCompleted, Draining: b.Draining,
		DrainRequested: b.DrainRequested, Lost: b.State == farm.BuilderLost}
	if b.DrainRequestedAt != nil {
		v.DrainRequestedAt = *b.DrainRequestedAt
	}
	return v
}

// PlaceholderGroup is the metadata key of a drained placeholder record the
// scaler made for an instance of that group that never registered.
const PlaceholderGroup = "fleet_group"

// forgettable reports whether b is the record of an instance of this pool's
// group that is gone: named as an instance, not alive in the group, holding
// nothing, not heard of for ForgetAfter.
func (s *Scaler) forgettable(cfg fleet.PoolConfig, b *farm.Builder, alive map[string]bool) bool {
	ours := b.Kind == farm.KindEC2 && (b.Serves(cfg.Pool) || b.Metadata[PlaceholderGroup] == cfg.Group)
	last := b.UpdatedAt
	if b.LastHeartbeat != nil && b.LastHeartbeat.After(last) {
		last = *b.LastHeartbeat
	}
	return ours && strings.HasPrefix(b.Name, "i-") && !alive[b.Name] && len(b.CurrentJobs) == 0 && s.now().Sub(last) >= ForgetAfter
}

func (s *Scaler) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

func (s *Scaler) minInterval() time.Duration {
	if s.MinInterval > 0 {
		return s.MinInterval
	}
	return DefaultMinInterval
}

func (s *Scaler) runID() string {
	if s.RunID == "" {
		s.RunID = "scaler-" + farm.NewID(s.now())
	}
	return s.RunID
}
