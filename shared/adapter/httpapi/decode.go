package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// readBody reads the whole request body within the size limit. A body over
// the limit is ETooLarge; a non-empty body must be JSON.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.maxBody {
		return nil, farm.Errorf(farm.ETooLarge, "the request body is larger than %d bytes", s.maxBody)
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, farm.Errorf(farm.ETooLarge, "the request body is larger than %d bytes", s.maxBody)
	case err != nil:
		return nil, farm.Errorf(farm.EInvalid, "the request body could not be read")
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// checkJSONContentType accepts application/json, any application/*+json, no
// Content-Type at all, and the two types tools send by default for a typed-in
// body (curl -d: application/x-www-form-urlencoded; text/plain): the body is
// decoded as strict JSON either way. Form uploads and anything else are 415.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || mt == "application/x-www-form-urlencoded" || mt == "text/plain" ||
		(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return errUnsupportedMediaType(ct)
}

// decode strictly decodes the required JSON body into v: unknown fields,
// trailing data and wrong types are EInvalid errors naming the field.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return farm.Errorf(farm.EInvalid, "a JSON request body is required")
	}
	return farm.DecodeStrict(bytes.NewReader(b), v)
}

// decodeOptional is decode for routes whose body may be left out.
func (s *Server) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.readBody(w, r)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return err
	}
	return farm.DecodeStrict(bytes.NewReader(b), v)
}

// noBody refuses anything but an empty body or an empty JSON object.
func (s *Server) noBody(w http.ResponseWriter, r *http.Request) error {
	var empty struct{}
	return s.decodeOptional(w, r, &empty)
}

// query returns the request's query parameters, refusing unknown and repeated ones.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, farm.Errorf(farm.EInvalid, "the query string is malformed")
	}
	out := make(map[string]string, len(q))
	for name, values := range q {
		if !slices.Contains(allowed, name) {
			return nil, farm.FieldError(name, "unknown query parameter (known: %s)", strings.Join(allowed, ", "))
		}
		if len(values) > 1 {
			return nil, farm.FieldError(name, "is given more than once")
		}
		out[name] = values[0]
	}
	return out, nil
}

// intParam parses an optional integer query parameter.
func intParam(q map[string]string, name string) (int, error) {
	v, ok := q[name]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, farm.FieldError(name, "must be an integer, not %q", v)
	}
	return n, nil
}
