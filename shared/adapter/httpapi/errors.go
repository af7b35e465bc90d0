package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// statusOf maps an application error code to its HTTP status. This is the
// only place where codes become statuses.
func statusOf(code string) int {
	switch code {
	case farm.EInvalid:
		return http.StatusBadRequest
	case farm.EUnauthorized:
		return http.StatusUnauthorized
	case farm.EForbidden:
		return http.StatusForbidden
	case farm.ENotFound:
		return http.StatusNotFound
	case farm.EConflict, farm.EIdempotencyMismatch, farm.ENoneFree:
		return http.StatusConflict
	case farm.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case farm.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// RetryAfterSeconds is the Retry-After of a 503: the AWS SDK has already
// retried the dependency for up to a few seconds before the API gives up.
const RetryAfterSeconds = "1"

// edgeError is an HTTP-level refusal with no application meaning of its own
// (an unsupported media type, a method the path does not allow): an
// EInvalid error with a more precise status.
type edgeError struct {
	status int
	err    *farm.Error
}

func (e *edgeError) Error() string { return e.err.Error() }
func (e *edgeError) Unwrap() error { return e.err }

func errMethodNotAllowed(method, path string) error {
	return &edgeError{http.StatusMethodNotAllowed, farm.Errorf(farm.EInvalid, "method %s is not allowed on %s", method, path)}
}

func errUnsupportedMediaType(ct string) error {
	return &edgeError{http.StatusUnsupportedMediaType, &farm.Error{Code: farm.EInvalid, Field: "Content-Type", Message: fmt.Sprintf("Content-Type: the body must be application/json, not %q", ct)}}
}

func forbidden(format string, args ...any) error {
	return farm.Errorf(farm.EForbidden, format, args...)
}

// writeError answers with the API's error body. Internal errors are logged
// with the request id and answered with a generic message; nothing of their
// text reaches the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	code := farm.ErrorCode(err)
	status := statusOf(code)
	var ee *edgeError
	if errors.As(err, &ee) {
		status = ee.status
	}
	detail := apiv1.ErrorDetail{Code: code, Message: farm.ErrorMessage(err), RequestID: RequestID(ctx)}
	var fe *farm.Error
	if errors.As(err, &fe) {
		detail.Field = fe.Field
	}
	switch {
	case code == farm.EInternal && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away; nobody reads this answer.
		status, detail.Code, detail.Message = http.StatusServiceUnavailable, farm.EUnavailable, "request cancelled"
		s.log.InfoContext(ctx, "request cancelled by the client")
	case code == farm.EInternal:
		s.log.ErrorContext(ctx, "internal error", "err", err.Error())
	case status >= 500:
		s.log.WarnContext(ctx, "dependency unavailable", "code", code, "err", err.Error())
	default:
		s.log.LogAttrs(ctx, slog.LevelDebug, "request refused", slog.String("code", code), slog.String("err", err.Error()))
	}
	if rec, ok := w.(*recorder); ok && rec.wrote {
		// Too late to answer with an error: the response has begun.
		s.log.WarnContext(ctx, "error after the response began", "code", code)
		return
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="buildfarm"`)
	case http.StatusServiceUnavailable:
		// A dependency is down or throttled: the request may be sent again.
		w.Header().Set("Retry-After", RetryAfterSeconds)
	}
	writeJSON(w, status, apiv1.ErrorBody{Error: detail})
}
