// Package claims is the builder's side of a job: claiming the best job of
// a pool under a lease (with a presigned download of its source), the
// heartbeats that renew leases and carry logs and directives, presigned
// uploads of artifacts and logs, and completion fenced by the claim token
// (with the artifacts it names and the job's stored log).
package claims

import (
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Service runs the claims' use cases.
type Service struct {
	store    Store
	builders Builders
	follow   FollowUp
	blobs    Blobs
	metrics  Metrics
	registry *farm.Registry
	pools    farm.Pools
	policy   farm.Policy
	jobs     store.JobWriter
	log      *slog.Logger
	// claiming is the candidates this process's claims are writing.
	claiming inFlight
	// written is the running jobs this process last wrote.
	written writtenJobs
}

// Options configure a Service.
type Options struct {
	Store    Store
	Builders Builders
	FollowUp FollowUp
	// Blobs holds sources, artifacts and logs: claims, uploads and
	// completions need it (Record does not).
	Blobs Blobs
	// Metrics, when set, receives one TimeToStartSeconds per claim, by pool.
	Metrics  Metrics
	Registry *farm.Registry // default: the built-in types
	// Pools are the builder pools the farm serves.
	Pools  farm.Pools
	Policy farm.Policy
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, builders: o.Builders, follow: o.FollowUp, blobs: o.Blobs, metrics: o.Metrics,
		registry: o.Registry, pools: o.Pools, policy: o.Policy.WithDefaults(), log: o.Logger}
	if s.registry == nil {
		s.registry = farm.DefaultRegistry()
	}
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
