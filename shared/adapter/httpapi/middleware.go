package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// RequestIDHeader carries the request id both ways.
const RequestIDHeader = "X-Request-Id"

// A client's request id is echoed when it is short and plain.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:=+/-]{1,128}$`)

// requestID is the client's X-Request-Id when acceptable, else API
// Gateway's request id on Lambda, else a new one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); requestIDPattern.MatchString(id) {
		return id
	}
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && requestIDPattern.MatchString(gw.RequestID) {
		return gw.RequestID
	}
	return farm.NewSecret(12)
}

// observe gives the request its id, recovers from panics (a 500 with a
// generic message; the stack goes to the log) and logs one line per request.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
	id := requestID(r)
	ctx, st := withRequest(r.Context(), id)
	r = r.WithContext(ctx)
	rec := &recorder{ResponseWriter: w}
	rec.Header().Set(RequestIDHeader, id)
	rec.Header().Set("X-Content-Type-Options", "nosniff")
	rec.Header().Set("Cache-Control", "no-store")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rec.wrote {
				s.writeError(rec, r, farm.Internal(fmt.Errorf("panic: %v", v)))
			}
		}
		p := st.principal
		// One line per job per function at INFO (the api's: "job
		// completed"): a request that went well is DEBUG, as every
		// builder request is one of a job's several; a refused one INFO.
		level := slog.LevelDebug
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status >= 400:
			level = slog.LevelInfo
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", r.Pattern),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("actor", actorOf(p)),
		)
	}()
	next(rec, r)
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
}

func actorOf(p farm.Principal) string {
	if p.Role == "" {
		return ""
	}
	return p.Actor()
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(status int) {
	if r.wrote {
		return
	}
	r.status, r.wrote = status, true
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// endpoint wraps a route's handler with authentication, authorization and
// error responses.
func (s *Server) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.Access.Public {
			p, err := s.authorize(r, rt.Access)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			setPrincipal(r.Context(), p)
		}
		if err := rt.Handle(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// unrouted answers a path no route serves (404) or a method the path does
// not allow (405), with the API's error body.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, errMethodNotAllowed(r.Method, r.URL.Path))
		return
	}
	s.writeError(w, r, farm.Errorf(farm.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
}

// headerProbe captures what the mux's fallback handler would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(status int)      { p.status = status }
