package claims

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/metrics"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Claim is a job a builder claimed: the job with its claim token and
// lease, a presigned download of its source ("" when it has none) and a
// presigned upload of its run's whole log (nil when none could be signed).
type Claim struct {
	Job       *farm.Job
	SourceURL string
	LogUpload *Upload
	// MoreQueued is a hint for the builder: true when the candidates the
	// claim read held another job it could claim now, or filled the page
	// (more may be queued beyond it), so claiming again soon is worth a
	// request; false when nothing else claimable was queued when it looked.
	// A job queued after that rings its own doorbell.
	MoreQueued bool
}

// Claim gives builder the best claimable job of pool: highest score, then
// oldest. The job is claimed with a write conditional on it still being
// queued as read, so two claimers never both win it; a claimer that loses
// moves on to the next candidate at the cost of one refused write. That
// write is the claim's only one: no builder item is written (its slots are
// its agent's to keep; its current jobs are what its heartbeats report)
// and no timer is armed (the job's reap_at puts it on the reaper's sparse
// index). It returns nil when the pool has nothing to claim. by is the
// caller: a builder token bound to other pools may not claim from pool.
// The builder's slots are counted on the reap index (see ClaimFor).
func (s *Service) Claim(ctx context.Context, by farm.Principal, builder, pool string) (*Claim, error) {
	return s.ClaimFor(ctx, by, builder, pool, HeldUnknown)
}

// HeldUnknown is the held count of a claim whose caller does not say.
const HeldUnknown = -1

// ClaimFor is Claim with held, the number of jobs the builder's agent
// holds now by its own count. A builder whose slots are all held claims
// nothing (a conflict). The farm trusts the agent's count for its own
// slots: only a builder's own token (or an admin) claims for it, and an
// agent that lies overbooks itself alone — its jobs run slower or lose
// their leases and the blame is its own. So the agents' claims (they
// always say) cost one index query and one conditional write. A caller
// that does not say (held HeldUnknown: an older agent, a script) has the
// builder's jobs counted on the reap index, one more query; that index is
// eventually consistent, so concurrent claims of one builder that does
// not say can overbook it (docs/reliability.md).
func (s *Service) ClaimFor(ctx context.Context, by farm.Principal, builder, pool string, held int) (*Claim, error) {
	if held < HeldUnknown || held > farm.MaxSlots {
		return nil, farm.FieldError("jobs_held", "must be between 0 and %d", farm.MaxSlots)
	}
	if pool == "" {
		return nil, farm.FieldError("pool", "is required")
	}
	if err := farm.CheckName("pool", pool); err != nil {
		return nil, err
	}
	if !by.MayUsePool(pool) {
		return nil, farm.Errorf(farm.EForbidden, "this token is bound to pools %s; it may not claim from pool %q", strings.Join(by.Pools, ", "), pool)
	}
	if !s.pools.Serves(pool) {
		return nil, farm.FieldError("pool", "this farm does not serve pool %q", pool)
	}
	b, err := s.claimant(ctx, builder, pool)
	if err != nil {
		return nil, err
	}
	if err := s.checkSlots(ctx, b, held); err != nil {
		return nil, err
	}
	for races, reads := 0, 0; races < maxClaimRaces && reads < maxClaimReads; reads++ {
		c, raced, others, err := s.claimFromPage(ctx, b, pool)
		if err != nil || c != nil {
			return c, err
		}
		if !raced && len(others) == 0 {
			return nil, nil
		}
		if raced {
			races++
		}
		awaitAll(ctx, others)
	}
	return nil, nil
}

// A claim reads the queue again after losing a race for every candidate
// it tried, up to maxClaimRaces times (the builder claims again on its
// next doorbell), and after waiting for its own process's claims of the
// candidates it skipped, up to maxClaimReads reads in all: those waits
// end in writes that took jobs or left them, so they make progress.
const (
	maxClaimRaces = 3
	maxClaimReads = 32
)

// claimFromPage reads one page of pool's queue and claims the first
// candidate b may take: raced says a write lost to another claimer;
// others are the writes of this process's claims of the candidates it
// moved past.
func (s *Service) claimFromPage(ctx context.Context, b *farm.Builder, pool string) (c *Claim, raced bool, others []<-chan struct{}, err error) {
	candidates, err := s.store.QueuedJobs(ctx, pool, s.policy.ClaimScan)
	if err != nil {
		return nil, false, nil, err
	}
	for i, cand := range candidates {
		if !s.claimableBy(b, cand, s.jobs.Now()) {
			continue // not a candidate for b: not one to hold for it either
		}
		release, busy := s.claiming.take(cand.ID)
		if release == nil {
			others = append(others, busy)
			continue
		}
		job, err := s.claimCandidate(ctx, b, cand)
		release()
		if errors.Is(err, store.ErrLostRace) {
			raced = true
			continue
		}
		if err != nil {
			return nil, false, nil, err
		}
		if job != nil {
			more := len(candidates) >= s.policy.ClaimScan || s.anyClaimable(b, candidates[i+1:])
			return &Claim{Job: job, SourceURL: s.sourceURL(ctx, job), LogUpload: s.logUpload(ctx, job), MoreQueued: more}, false, nil, nil
		}
	}
	return nil, raced, others, nil
}

// claimant reads the builder (a record at most seconds old) and checks it
// may claim from pool now.
func (s *Service) claimant(ctx context.Context, name, pool string) (*farm.Builder, error) {
	b, err := s.builders.Claimant(ctx, name)
	if farm.IsCode(err, farm.ENotFound) {
		return nil, farm.Errorf(farm.ENotFound, "builder %s is not registered", name)
	}
	if err != nil {
		return nil, err
	}
	if !b.Serves(pool) {
		return nil, farm.Errorf(farm.EForbidden, "builder %s does not serve pool %s", name, pool)
	}
	if err := b.CanClaim(); err != nil {
		return nil, err
	}
	return b, nil
}

// checkSlots refuses a claim for a builder whose slots are all held: by
// its agent's count, or when it does not say, by the reap index's.
func (s *Service) checkSlots(ctx context.Context, b *farm.Builder, held int) error {
	if held == HeldUnknown {
		active, err := s.store.ActiveJobs(ctx, b.Name, b.Slots)
		if err != nil {
			return err
		}
		held = len(active)
	}
	if held >= b.Slots {
		return farm.Errorf(farm.EConflict, "builder %s has all %d slots busy", b.Name, b.Slots)
	}
	return nil
}

// claimCandidate claims cand for builder b. It returns (nil, nil) when the
// candidate is not claimable by this builder, and an ErrLostRace conflict
// when another claimer took it first.
func (s *Service) claimCandidate(ctx context.Context, b *farm.Builder, cand *farm.Job) (*farm.Job, error) {
	now := s.jobs.Now()
	if !s.claimableBy(b, cand, now) {
		return nil, nil
	}
	next, ev, err := cand.Claim(b.Name, farm.NewSecret(16), now, s.policy.Lease)
	if err != nil {
		return nil, nil
	}
	if err := s.jobs.Write(ctx, cand, next, ev); err != nil {
		return nil, err
	}
	s.written.remember(next)
	s.publishTimeToStart(ctx, next)
	s.log.DebugContext(ctx, "job claimed", "job_id", next.ID, "builder", b.Name, "pool", next.Pool, "score", next.Score, "attempt", next.Attempts)
	s.follow.After(ctx, next)
	return next, nil
}

// claimableBy reports whether builder b may claim cand now: it is queued
// and not held back, and a job that needs a clean builder finds one.
func (s *Service) claimableBy(b *farm.Builder, cand *farm.Job, now time.Time) bool {
	if !cand.Claimable(now) {
		return false
	}
	typ, err := s.registry.Lookup(cand.Type)
	return err != nil || !typ.RequiresCleanBuilder() || b.CleanStatus == farm.CleanClean
}

// anyClaimable reports whether b could claim one of rest now (read with
// the claim's page, so only as fresh as that). A held-back job is not
// counted: its requeue rang a doorbell delayed until it may be claimed.
func (s *Service) anyClaimable(b *farm.Builder, rest []*farm.Job) bool {
	now := s.jobs.Now()
	for _, j := range rest {
		if s.claimableBy(b, j, now) {
			return true
		}
	}
	return false
}

// MetricTimeToStart is the metric of each claim: how long the job waited
// in the queue, in seconds, with the dimension Pool.
const MetricTimeToStart = "TimeToStartSeconds"

// publishTimeToStart publishes the claimed job's time to start; CloudWatch
// keeps every value, so the dashboard can show p50/p90.
func (s *Service) publishTimeToStart(ctx context.Context, job *farm.Job) {
	if s.metrics == nil || job.TimeToStartSeconds == nil {
		return
	}
	m := metrics.Metric{Name: MetricTimeToStart, Unit: "Seconds", Value: *job.TimeToStartSeconds}
	if err := s.metrics.Publish(s.jobs.Now(), map[string]string{"Pool": job.Pool}, m); err != nil {
		s.log.WarnContext(ctx, "time-to-start metric not written", "job_id", job.ID, "err", err)
	}
}

// SourceURLTTL is how long a claimed job's presigned source download lives.
const SourceURLTTL = time.Hour

// sourceURL presigns a download of the job's source: an upload under the
// farm's incoming/ prefix (the only source a submitter may name), or for a
// follow-on job an artifact of its parent; pinned to the object version the
// payload names. Anything else gets no URL (the submit-time check refuses
// such sources; this holds for jobs stored before it). The claim stands
// without one: a failure is logged.
func (s *Service) sourceURL(ctx context.Context, job *farm.Job) string {
	if s.blobs == nil {
		return ""
	}
	var p farm.Source
	if json.Unmarshal(job.Payload, &p) != nil {
		return ""
	}
	bucket, key, ok := blobs.ParseURL(p.Source)
	if !ok || bucket != s.blobs.Bucket() {
		return ""
	}
	fromParent := job.ParentID != "" && strings.HasPrefix(key, blobs.ArtifactPrefix(job.ParentID))
	if (farm.SourcePolicy{Bucket: bucket, Prefix: blobs.IncomingPrefix}).Check(p.Source) != nil && !fromParent {
		s.log.WarnContext(ctx, "job source outside incoming/ not presigned", "job_id", job.ID)
		return ""
	}
	pre, err := s.blobs.PresignDownload(ctx, blobs.Download{Key: key, VersionID: p.SourceVersion}, SourceURLTTL)
	if err != nil {
		s.log.ErrorContext(ctx, "cannot presign the job source", "job_id", job.ID, "err", err.Error())
		return ""
	}
	return pre.URL
}
