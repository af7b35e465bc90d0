// Package httpapi is the farm's HTTP API v1: one net/http handler serving
// every route, with bearer-token auth, strict and size-limited JSON input,
// one error body, request ids in every log line and error, and the OpenAPI
// document it is tested against. The same handler runs locally and on
// Lambda (API Gateway HTTP API payload v2, see LambdaHandler).
//
// It is the edge of the farm: each handler decodes a request, makes one
// call of an application service (services.go) and encodes its answer.
// Who may call a route is the route table's (routes.go); what may be done
// to the object a route names is the service's. Application errors are
// *farm.Error values; they become HTTP statuses here, at the edge, and
// nowhere else.
package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
)

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 1 << 20

// Options configure a Server: the services it serves, all required.
type Options struct {
	Jobs      Jobs
	Claims    Claims
	Builders  Builders
	Resources Resources
	Queue     Queue
	Tokens    Tokens
	// Logger receives JSON logs; every line of a request carries its request id.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// Server is the API's http.Handler.
type Server struct {
	jobs      Jobs
	claims    Claims
	builders  Builders
	resources Resources
	queue     Queue
	tokens    Tokens
	log       *slog.Logger
	maxBody   int64
	mux       *http.ServeMux
	routes    []route
	openapi   []byte
	// instances issues EC2 instances their tokens (instancetokens.go).
	instances InstanceTokens
}

// New returns the API handler.
func New(o Options) (*Server, error) {
	if o.Jobs == nil || o.Claims == nil || o.Builders == nil || o.Resources == nil || o.Queue == nil || o.Tokens == nil {
		return nil, errors.New("httpapi: Jobs, Claims, Builders, Resources, Queue and Tokens are required")
	}
	s := &Server{
		jobs:      o.Jobs,
		claims:    o.Claims,
		builders:  o.Builders,
		resources: o.Resources,
		queue:     o.Queue,
		tokens:    o.Tokens,
		log:       o.Logger,
		maxBody:   o.MaxBodyBytes,
		mux:       http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = slog.New(ContextHandler(s.log.Handler()))
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	doc, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	s.openapi = doc
	for _, group := range routeGroups {
		s.routes = append(s.routes, group(s)...)
	}
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Path, s.endpoint(rt))
	}
	return s, nil
}

// ServeHTTP serves one request: request id, panic recovery and an access log
// line around the route, and JSON errors for paths and methods not routed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.observe(w, r, func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.unrouted(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Routes lists "METHOD /path" of every route, in registration order.
func (s *Server) Routes() []string {
	out := make([]string, 0, len(s.routes))
	for _, rt := range s.routes {
		out = append(out, rt.Method+" "+rt.Path)
	}
	return out
}
