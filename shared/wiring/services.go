package wiring

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/emf"
	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/authgen"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/followup"
	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/app/queue"
	"github.com/buildfarm/buildfarm/shared/app/reaper"
	"github.com/buildfarm/buildfarm/shared/app/resources"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Deps are what one farm's services are built over: its adapters (a store
// and object storage, doorbells, lease timers, metrics), what it serves,
// and its policy. Nil adapters other than the store are left out: no
// doorbell rings nothing, no lease timer arms none, no metrics publishes
// none, no blobs fails the reads and writes of logs and artifacts.
type Deps struct {
	Store    store.Store
	Doorbell followup.Doorbell
	Queues   builders.Queues
	Blobs    blobs.Store
	// Metrics receives EMF records (stdout in Lambda); nil publishes none.
	Metrics io.Writer
	// Registry is the job types (nil: the built-in ones).
	Registry *farm.Registry
	// Pools are the builder pools the farm serves.
	Pools []string
	// Sources is where a submitted job's source may point (the farm's
	// bucket and its incoming/ prefix); the zero policy refuses sources.
	Sources farm.SourcePolicy
	Policy  farm.Policy
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
}

// Services are one farm's application services, connected to each other
// and to its adapters.
type Services struct {
	Admission *admission.Admission
	FollowUp  *followup.Service
	Jobs      *jobs.Service
	Claims    *claims.Service
	Builders  *builders.Service
	Resources *resources.Service
	Reaper    *reaper.Service
	Queue     *queue.Service
	// AuthWatch validates the token and claimant caches against the auth
	// generation: a request reads it when the last read is older than its
	// bound; a process serving requests also runs its refresher
	// (RunAuthRefresh), which moves those reads off the requests.
	AuthWatch *authgen.Watcher
	// Policy is the effective policy (defaults filled in).
	Policy farm.Policy
	// Logger is what the services log to.
	Logger *slog.Logger

	deps Deps
}

// NewServices builds and connects the services of a farm.
func NewServices(d Deps) *Services {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	policy := d.Policy.WithDefaults()
	pools := farm.NewPools(d.Pools)
	s := &Services{Policy: policy, Logger: d.Logger, deps: d}
	s.AuthWatch = authgen.New(authgen.Options{Store: d.Store, Clock: d.Clock, Logger: d.Logger})
	s.Admission = admission.New(d.Registry, pools, d.Sources)
	s.FollowUp = followup.New(followup.Options{Store: d.Store, Doorbell: d.Doorbell, Admission: s.Admission, Policy: policy, Clock: d.Clock, Logger: d.Logger})
	s.Queue = queue.New(queue.Options{Store: d.Store, Pools: pools, Clock: d.Clock, Logger: d.Logger})
	jo := jobs.Options{Store: d.Store, Admission: s.Admission, FollowUp: s.FollowUp, Estimates: s.Queue, Policy: policy, Clock: d.Clock, Logger: d.Logger}
	if d.Blobs != nil {
		jo.Blobs = d.Blobs
	}
	s.Jobs = jobs.New(jo)
	bo := builders.Options{Store: d.Store, FollowUp: s.FollowUp, Queues: d.Queues, Pools: pools, Policy: policy, Clock: d.Clock, Logger: d.Logger, Watcher: s.AuthWatch}
	s.Builders = builders.New(bo)
	co := claims.Options{Store: d.Store, Builders: s.Builders, FollowUp: s.FollowUp, Registry: s.Admission.Registry(),
		Pools: pools, Policy: policy, Clock: d.Clock, Logger: d.Logger}
	if d.Blobs != nil {
		co.Blobs = d.Blobs
	}
	if d.Metrics != nil {
		co.Metrics = emf.Writer{W: d.Metrics}
	}
	s.Claims = claims.New(co)
	s.Resources = resources.New(resources.Options{Store: d.Store, Jobs: s.Jobs, FollowUp: s.FollowUp, Admission: s.Admission, Clock: d.Clock, Logger: d.Logger})
	ro := reaper.Options{Store: d.Store, Builders: s.Builders, FollowUp: s.FollowUp, Resources: s.Resources,
		Pools: pools, Policy: policy, Clock: d.Clock, Logger: d.Logger}
	if d.Doorbell != nil {
		ro.Doorbell = d.Doorbell
	}
	s.Reaper = reaper.New(ro)
	return s
}

// Tokens is the tokens service of the farm, with adminToken as its
// bootstrap admin token ("" for none: only stored tokens work).
func (s *Services) Tokens(adminToken string) *tokens.Service {
	s.warnAdminToken(adminToken)
	return tokens.New(s.deps.Store, adminToken, tokens.WithClock(s.deps.Clock), tokens.WithPools(farm.NewPools(s.deps.Pools)), tokens.WithLogger(s.Logger),
		tokens.WithWatcher(s.AuthWatch))
}

// RunAuthRefresh reads the auth generation every bound until ctx ends, in
// the background (the API function and the local farm): requests then
// find the caches validated and read nothing themselves.
func (s *Services) RunAuthRefresh(ctx context.Context) { s.AuthWatch.Run(ctx) }

// MinAdminTokenLength is the shortest bootstrap admin token accepted
// without a warning.
const MinAdminTokenLength = 20

// API is the HTTP API over the services, with adminToken as its bootstrap
// admin token ("" for none: then only tokens already in the store work).
// For request ids in the services' log lines too, build them with a logger
// whose handler is wrapped in httpapi.ContextHandler.
func (s *Services) API(adminToken string) (*httpapi.Server, error) {
	return s.APIWith(s.Tokens(adminToken))
}

// warnAdminToken warns of a missing or short bootstrap admin token.
func (s *Services) warnAdminToken(adminToken string) {
	switch {
	case adminToken == "":
		s.Logger.Warn("no bootstrap admin token: only stored tokens are accepted")
	case len(adminToken) < MinAdminTokenLength:
		s.Logger.Warn("the bootstrap admin token is short; use a long random one", "length", len(adminToken))
	}
}

// APIWith is the HTTP API over the services with this tokens service
// (tests keep it, to issue tokens of their own).
func (s *Services) APIWith(t *tokens.Service) (*httpapi.Server, error) {
	return httpapi.New(httpapi.Options{
		Jobs: s.Jobs, Claims: s.Claims, Builders: s.Builders, Resources: s.Resources, Queue: s.Queue, Tokens: t,
		Logger: s.Logger,
	})
}
