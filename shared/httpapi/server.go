// Package httpapi is the farm's HTTP API v1: one net/http handler serving
// every route, with bearer-token auth, strict and size-limited JSON input,
// one error body, request ids in every log line and error, and the OpenAPI
// document it is tested against. The same handler runs locally and on
// Lambda (API Gateway HTTP API payload v2, see LambdaHandler).
//
// Application errors are *farm.Error values; they become HTTP statuses here,
// at the edge, and nowhere else.
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/buildfarm/buildfarm/shared/auth"
	"github.com/buildfarm/buildfarm/shared/s3blobs"
	"github.com/buildfarm/buildfarm/shared/scheduler"
)

// Doorbells names the doorbell queue of each pool (sqsdoorbell.Bell).
type Doorbells interface {
	QueueURLs(pools []string) map[string]string
}

// Blobs is the object storage the API uses (s3blobs.Store).
type Blobs interface {
	Bucket() string
	PresignPut(ctx context.Context, key string, ttl time.Duration) (*s3blobs.Presigned, error)
	PresignGet(ctx context.Context, key string, ttl time.Duration) (*s3blobs.Presigned, error)
	PresignDownload(ctx context.Context, d s3blobs.Download, ttl time.Duration) (*s3blobs.Presigned, error)
	Put(ctx context.Context, key, contentType string, body []byte) error
	Get(ctx context.Context, key string) (io.ReadCloser, *s3blobs.Object, error)
	Head(ctx context.Context, key string) (*s3blobs.Object, error)
	List(ctx context.Context, prefix string) ([]s3blobs.Object, error)
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 1 << 20

// Options configure a Server.
type Options struct {
	Scheduler *scheduler.Scheduler
	Auth      *auth.Authenticator
	Doorbells Doorbells
	Blobs     Blobs
	// Logger receives JSON logs; every line of a request carries its request id.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
}

// Server is the API's http.Handler.
type Server struct {
	sched   *scheduler.Scheduler
	store   scheduler.Store
	auth    *auth.Authenticator
	bells   Doorbells
	blobs   Blobs
	log     *slog.Logger
	maxBody int64
	now     func() time.Time
	mux     *http.ServeMux
	routes  []route
	openapi []byte
	// instances issues EC2 instances their tokens (instancetokens.go).
	instances InstanceTokens
}

// New returns the API handler.
func New(o Options) (*Server, error) {
	if o.Scheduler == nil || o.Auth == nil || o.Blobs == nil {
		return nil, errors.New("httpapi: Scheduler, Auth and Blobs are required")
	}
	s := &Server{
		sched:   o.Scheduler,
		store:   o.Scheduler.Store(),
		auth:    o.Auth,
		bells:   o.Doorbells,
		blobs:   o.Blobs,
		log:     o.Logger,
		maxBody: o.MaxBodyBytes,
		now:     o.Clock,
		mux:     http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = slog.New(ContextHandler(s.log.Handler()))
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
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

func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }
