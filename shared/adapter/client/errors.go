package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// StatusError is a non-2xx answer of the farm: the HTTP status and the
// farm's error (code, message, field) decoded from the body. It unwraps to
// *farm.Error, so farm.IsCode and errors.As work on it.
type StatusError struct {
	Status    int
	Err       *farm.Error
	RequestID string
	// Body is the raw answer (bounded), for answers that carry more than the
	// error, such as the 409 of a heartbeat.
	Body []byte
	// RetryAfter is the farm's Retry-After (on a 503), zero when none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("farm answered %d %s", e.Status, e.Err.Error())
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

// Code is the farm's error code.
func (e *StatusError) Code() string { return e.Err.Code }

// StatusOf returns the HTTP status of a farm error, or 0 when err is not one
// (a network error, a cancelled context).
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// IsTemporary reports whether a request that failed with err may succeed if
// sent again: network errors, timeouts, 429 and 5xx answers. A farm answer
// that judged the request (4xx) is final.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	status := StatusOf(err)
	return status == 0 || status == http.StatusTooManyRequests || status >= 500
}

// codeForStatus is the error code of an answer whose body is not an error body
// (a proxy's HTML page, an empty 502).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return farm.EInvalid
	case http.StatusUnauthorized:
		return farm.EUnauthorized
	case http.StatusForbidden:
		return farm.EForbidden
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return farm.ENotFound
	case http.StatusConflict:
		return farm.EConflict
	case http.StatusRequestEntityTooLarge:
		return farm.ETooLarge
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return farm.EUnavailable
	}
	return farm.EInternal
}

func decodeError(method, path string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	se := &StatusError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), Body: raw, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	var body apiv1.ErrorBody
	if err := json.Unmarshal(raw, &body); err == nil && body.Error.Code != "" {
		se.Err = &farm.Error{Code: body.Error.Code, Message: body.Error.Message, Field: body.Error.Field}
		if body.Error.RequestID != "" {
			se.RequestID = body.Error.RequestID
		}
	} else {
		msg := strings.TrimSpace(string(raw))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		se.Err = &farm.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("%s %s: %s", method, path, msg)}
	}
	return se
}

func uploadError(status int, name, msg string) *farm.Error {
	return &farm.Error{Code: codeForStatus(status), Message: fmt.Sprintf("upload %s: storage answered %d: %s", name, status, msg)}
}
