// Package jobs is the submitter's side of the farm: submitting jobs (with
// idempotency keys and dependencies), cancelling, retrying and pinning the
// score of one, and reading them back — a job, listings, its history, its
// log and its artifacts.
package jobs

import (
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service runs the jobs' use cases.
type Service struct {
	store     Store
	admit     *admission.Admission
	follow    FollowUp
	estimates Estimator
	blobs     Blobs
	jobs      store.JobWriter
	policy    farm.Policy
	log       *slog.Logger
}

// Options configure a Service.
type Options struct {
	Store     Store
	Admission *admission.Admission
	FollowUp  FollowUp
	// Estimates, when set, fills in the start estimates of queued jobs read.
	Estimates Estimator
	// Blobs holds stored logs and artifacts (reads of those need it).
	Blobs  Blobs
	Policy farm.Policy
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, admit: o.Admission, follow: o.FollowUp, estimates: o.Estimates, blobs: o.Blobs,
		policy: o.Policy.WithDefaults(), log: o.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	s.jobs = store.JobWriter{Store: o.Store, Policy: s.policy, Clock: clock}
	return s
}

// Registry is the farm's job types.
func (s *Service) Registry() *farm.Registry { return s.admit.Registry() }
