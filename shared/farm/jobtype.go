package farm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Args is a job type's typed payload, in the manner of river's JobArgs.
type Args interface {
	Kind() string
}

// FollowOn is a job to create when its parent succeeds.
type FollowOn struct {
	Type     string
	Payload  json.RawMessage
	Priority int64
}

// JobType is what the farm needs to know about a kind of job.
type JobType interface {
	Kind() string
	// Parse strictly decodes and validates a payload, naming the bad field on error.
	Parse(payload json.RawMessage) (Args, error)
	// Score is the dispatch score of a job of this type: higher runs first.
	Score(args Args, priority int64) int64
	// Pool is the builder pool that runs jobs of these args.
	Pool(args Args) string
	// Defaults are the timeout and attempts used when a request does not set them.
	Defaults() Defaults
	// FollowOns are the jobs to create once a job with these args succeeded.
	FollowOns(args Args, job *Job) ([]FollowOn, error)
	// Internal types are created by the farm itself, never submitted.
	Internal() bool
	// RequiresCleanBuilder asks for a builder whose clean_status is clean.
	RequiresCleanBuilder() bool
	// Privileged names the payload fields of args that only an admin may
	// set: score inputs that say how much a job matters to the farm (a
	// private archive, an archive's own score) rather than what the job is.
	Privileged(args Args) []string
	// Secrets are the payload fields whose values only the job's owner,
	// admins and the builder running the job may read (Registry.Redact).
	Secrets() []Secret
}

// Defaults are a type's default limits.
type Defaults struct {
	TimeoutSeconds int
	MaxAttempts    int
}

// TypeSpec declares a job type over its typed args A. Only Validate and
// Pool are required; zero values give sensible defaults.
type TypeSpec[A Args] struct {
	// Validate checks decoded args and may normalise them (fill defaults).
	Validate func(*A) error
	// Score is the type's own score for args; the request priority is added to it.
	Score func(A) int64
	// Pool routes args to a builder pool.
	Pool     func(A) string
	Defaults Defaults
	// FollowOns lists jobs to create when a job of this type succeeds.
	FollowOns    func(A, *Job) ([]FollowOn, error)
	Internal     bool
	RequireClean bool
	// Privileged lists the payload fields args set that only an admin may
	// set (see JobType.Privileged).
	Privileged func(A) []string
	// Secrets marks the payload fields whose values only the job's owner,
	// admins and the builder running it may read.
	Secrets []Secret
}

// Secret marks one top-level payload field as secret.
type Secret struct {
	Field string
	// Values: the field is an object whose keys are shown and whose
	// values are redacted (environment variables); otherwise the whole
	// value is.
	Values bool
	// FollowOns: the field is a list of follow-on jobs ({type, payload});
	// each payload is redacted as its own type says.
	FollowOns bool
}

// Define builds a JobType from a spec over typed args.
func Define[A Args](spec TypeSpec[A]) JobType {
	if spec.Defaults.TimeoutSeconds == 0 {
		spec.Defaults.TimeoutSeconds = 3600
	}
	if spec.Defaults.MaxAttempts == 0 {
		spec.Defaults.MaxAttempts = 3
	}
	return &definedType[A]{spec: spec}
}

type definedType[A Args] struct{ spec TypeSpec[A] }

func (t *definedType[A]) Kind() string {
	var a A
	return a.Kind()
}

func (t *definedType[A]) Parse(payload json.RawMessage) (Args, error) {
	var a A
	if len(bytes.TrimSpace(payload)) == 0 || bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
		payload = json.RawMessage("{}")
	}
	if err := DecodeStrict(bytes.NewReader(payload), &a); err != nil {
		return nil, prefixField("payload", err)
	}
	if t.spec.Validate != nil {
		if err := t.spec.Validate(&a); err != nil {
			return nil, prefixField("payload", err)
		}
	}
	return a, nil
}

func (t *definedType[A]) Score(args Args, priority int64) int64 {
	var s int64
	if t.spec.Score != nil {
		s = t.spec.Score(args.(A))
	}
	return s + priority
}

func (t *definedType[A]) Pool(args Args) string { return t.spec.Pool(args.(A)) }
func (t *definedType[A]) Defaults() Defaults    { return t.spec.Defaults }
func (t *definedType[A]) Internal() bool        { return t.spec.Internal }

func (t *definedType[A]) RequiresCleanBuilder() bool { return t.spec.RequireClean }

func (t *definedType[A]) Secrets() []Secret { return t.spec.Secrets }

func (t *definedType[A]) Privileged(args Args) []string {
	if t.spec.Privileged == nil {
		return nil
	}
	return t.spec.Privileged(args.(A))
}

func (t *definedType[A]) FollowOns(args Args, job *Job) ([]FollowOn, error) {
	if t.spec.FollowOns == nil {
		return nil, nil
	}
	return t.spec.FollowOns(args.(A), job)
}

// prefixField qualifies the field of a validation error: "script" becomes "payload.script".
func prefixField(prefix string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == EInvalid {
		field := prefix
		if e.Field != "" {
			field = prefix + "." + e.Field
		}
		msg := strings.TrimPrefix(e.Message, e.Field+": ")
		return &Error{Code: EInvalid, Field: field, Message: field + ": " + msg, Err: e.Err}
	}
	return err
}

// DecodeStrict decodes exactly one JSON value into v, refusing unknown fields
// and trailing data, and reports errors as EInvalid naming the field.
func DecodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Code: EInvalid, Message: "body must hold a single JSON value"}
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &Error{Code: EInvalid, Message: fmt.Sprintf("malformed JSON at byte %d", syn.Offset), Err: err}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &Error{Code: EInvalid, Message: fmt.Sprintf("expected a JSON %s", typ.Type.Kind()), Err: err}
		}
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("%s: must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value), Err: err}
	case errors.Is(err, io.EOF):
		return &Error{Code: EInvalid, Message: "body is empty", Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Code: EInvalid, Message: "malformed JSON: unexpected end", Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Code: EInvalid, Field: name, Message: fmt.Sprintf("%s: unknown field", name), Err: err}
	}
	var appErr *Error
	if errors.As(err, &appErr) {
		return appErr
	}
	return &Error{Code: EInvalid, Message: "malformed JSON", Err: err}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "a boolean"
	case goKind == "slice", goKind == "array":
		return "an array"
	case goKind == "map", goKind == "struct":
		return "an object"
	}
	return goKind
}

// Registry holds the known job types. It is open: register more at start-up.
type Registry struct {
	mu    sync.RWMutex
	types map[string]JobType
}

// NewRegistry returns a registry holding the given types.
func NewRegistry(types ...JobType) *Registry {
	r := &Registry{types: map[string]JobType{}}
	for _, t := range types {
		r.Register(t)
	}
	return r
}

// Register adds or replaces a type.
func (r *Registry) Register(t JobType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types[t.Kind()] = t
}

// Lookup returns the type named kind or an EInvalid error naming the field "type".
func (r *Registry) Lookup(kind string) (JobType, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[kind]
	if !ok {
		if kind == "" {
			return nil, FieldError("type", "is required")
		}
		return nil, FieldError("type", "unknown job type %q (known: %s)", kind, strings.Join(r.kindsLocked(), ", "))
	}
	return t, nil
}

// Kinds lists the registered type names, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.kindsLocked()
}

func (r *Registry) kindsLocked() []string {
	return slices.Sorted(maps.Keys(r.types))
}
