package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// route is one API operation: a ServeMux pattern, who may call it and the
// handler. Handlers return errors; endpoint turns them into responses.
type route struct {
	Method string
	Path   string
	Access access
	Handle func(w http.ResponseWriter, r *http.Request) error
}

// access says who may call a route. Checks that need the addressed object
// (a submitter's own job, the builder holding a claim) are made by the
// handler once it has read it.
type access struct {
	// Public routes need no token.
	Public bool
	// Roles may call the route; empty means any authenticated role.
	Roles []farm.Role
	// SelfBuilder: a builder token may only act on the {name} of the path.
	SelfBuilder bool
}

var (
	public          = access{Public: true}
	anyRole         = access{}
	adminOnly       = access{Roles: []farm.Role{farm.RoleAdmin}}
	submitters      = access{Roles: []farm.Role{farm.RoleSubmitter, farm.RoleAdmin}}
	builderSelf     = access{Roles: []farm.Role{farm.RoleBuilder, farm.RoleAdmin}, SelfBuilder: true}
	claimHolders    = access{Roles: []farm.Role{farm.RoleBuilder, farm.RoleAdmin}}
	ownersAndAdmins = submitters
	// resourceHolders may release a resource; the handler checks that the
	// caller is the principal that acquired it (or an admin).
	resourceHolders = submitters
)

// routeGroups lists the route sets of the API. A new set of routes (the
// resource pools, say) is one file: a method returning its routes, added
// here or by the file's own init (routeGroups = append(routeGroups, ...)).
// TestOpenAPIMatchesRoutes and TestRouteAccess then ask for its OpenAPI
// operations and its access cases.
var routeGroups = []func(*Server) []route{
	(*Server).metaRoutes,
	(*Server).jobRoutes,
	(*Server).builderRoutes,
	(*Server).workRoutes,
	(*Server).tokenRoutes,
	(*Server).poolRoutes,
	(*Server).uiRoutes,
}

func (s *Server) metaRoutes() []route {
	return []route{
		{"GET", "/v1/health", public, s.health},
		{"GET", "/v1/openapi.json", public, s.openAPI},
		{"GET", "/v1/queue", anyRole, s.queueSummary},
		{"GET", "/v1/whoami", anyRole, s.whoami},
	}
}

func (s *Server) jobRoutes() []route {
	return []route{
		{"POST", "/v1/jobs", submitters, s.submitJob},
		{"GET", "/v1/jobs", anyRole, s.listJobs},
		{"GET", "/v1/jobs/{id}", anyRole, s.getJob},
		{"GET", "/v1/jobs/{id}/events", anyRole, s.jobEvents},
		{"GET", "/v1/jobs/{id}/log", anyRole, s.jobLog},
		{"GET", "/v1/jobs/{id}/artifacts", anyRole, s.listArtifacts},
		{"GET", "/v1/jobs/{id}/artifacts/{name...}", anyRole, s.downloadArtifact},
		{"POST", "/v1/jobs/{id}/cancel", ownersAndAdmins, s.cancelJob},
		{"POST", "/v1/jobs/{id}/retry", ownersAndAdmins, s.retryJob},
		{"POST", "/v1/jobs/{id}/score", adminOnly, s.scoreJob},
	}
}

func (s *Server) builderRoutes() []route {
	return []route{
		{"PUT", "/v1/builders/{name}", builderSelf, s.registerBuilder},
		{"GET", "/v1/builders", anyRole, s.listBuilders},
		{"GET", "/v1/builders/{name}", anyRole, s.getBuilder},
		{"POST", "/v1/builders/{name}/disable", adminOnly, s.disableBuilder},
		{"POST", "/v1/builders/{name}/enable", adminOnly, s.enableBuilder},
	}
}

// workRoutes are the builder's side of a job: claim, heartbeat, upload, complete.
func (s *Server) workRoutes() []route {
	return []route{
		{"POST", "/v1/builders/{name}/claim", builderSelf, s.claim},
		{"POST", "/v1/builders/{name}/heartbeat", builderSelf, s.heartbeat},
		{"POST", "/v1/jobs/{id}/artifacts", claimHolders, s.artifactURL},
		{"POST", "/v1/jobs/{id}/complete", claimHolders, s.completeJob},
	}
}
