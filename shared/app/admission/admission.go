// Package admission decides what job a request makes: it validates the
// type and payload (through the job type registry), where its source may
// live, the pool it runs in, its score, limits and what only an admin may
// ask for, and the follow-on jobs its payload declares. It writes nothing:
// the jobs service stores what it admits, and the follow-up and resources
// services admit the farm's own jobs through it.
package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Submission limits.
const (
	// MaxPriority bounds an admin's priority (±); MaxSubmitterPriority a
	// submitter's, kept below what the admin-only score inputs (a private
	// archive's bonus, a pinned score) give, so that no payload or priority
	// a submitter chooses buys a place above them.
	MaxPriority          = 1_000_000
	MaxSubmitterPriority = 1000
	MaxMaxAttempts       = 20
	MaxTimeoutSeconds    = 7 * 24 * 3600
	MaxDependsOn         = 20
	MaxIdempotencyKeyLen = 255
	MaxPayloadBytes      = 256 << 10
)

// Request is a job to create.
type Request struct {
	Type           string
	Payload        json.RawMessage
	Priority       *int64
	MaxAttempts    *int
	TimeoutSeconds *int
	DependsOn      []string
	// IdempotencyKey makes a repeat of the same request return the first job.
	IdempotencyKey string
	// IdempotencyScope keeps keys of different callers apart (the submitter's identity).
	IdempotencyScope string
	RequestedBy      string
	ParentID         string
	// Internal allows internal job types (the farm's own jobs).
	Internal bool
	// Privileged (an admin's request) may set the payload fields a type
	// keeps for admins and priorities up to ±MaxPriority.
	Privileged bool
}

// Admission turns requests into jobs for one farm.
type Admission struct {
	registry *farm.Registry
	pools    farm.Pools
	sources  farm.SourcePolicy
}

// New returns the admission of a farm with these job types (nil: the
// built-in ones), serving these pools, whose submitted jobs may name
// sources where sources says.
func New(registry *farm.Registry, pools farm.Pools, sources farm.SourcePolicy) *Admission {
	if registry == nil {
		registry = farm.DefaultRegistry()
	}
	return &Admission{registry: registry, pools: pools, sources: sources}
}

// Registry is the farm's job types.
func (a *Admission) Registry() *farm.Registry { return a.registry }

// Pools are the builder pools the farm serves.
func (a *Admission) Pools() farm.Pools { return a.pools }

// NewJob validates a request into a queued job created at now (not yet
// stored). Errors are EInvalid or EForbidden *farm.Error values naming the
// field at fault.
func (a *Admission) NewJob(req Request, now time.Time) (*farm.Job, error) {
	typ, err := a.registry.Lookup(req.Type)
	if err != nil {
		return nil, err
	}
	if typ.Internal() && !req.Internal {
		return nil, farm.FieldError("type", "%s jobs are created by the farm itself, not submitted", req.Type)
	}
	if len(req.Payload) > MaxPayloadBytes {
		return nil, farm.FieldError("payload", "is larger than %d bytes", MaxPayloadBytes)
	}
	args, err := typ.Parse(req.Payload)
	if err != nil {
		return nil, err
	}
	if err := a.checkSource(req, args); err != nil {
		return nil, err
	}
	payload, err := storedPayload(args)
	if err != nil {
		return nil, err
	}
	pool := typ.Pool(args)
	if !a.pools.Serves(pool) {
		return nil, farm.FieldError("payload", "jobs of this payload run in builder pool %q, which this farm does not serve (pools: %s)", pool, a.pools)
	}
	var priority int64
	if req.Priority != nil {
		priority = *req.Priority
		if priority < -MaxPriority || priority > MaxPriority {
			return nil, farm.FieldError("priority", "must be between %d and %d", -MaxPriority, MaxPriority)
		}
	}
	if err := checkPrivileges(req, typ, args); err != nil {
		return nil, err
	}
	maxAttempts, timeout, err := limits(req, typ.Defaults())
	if err != nil {
		return nil, err
	}
	if err := checkDependencies(req); err != nil {
		return nil, err
	}
	declaresFollowOns, err := a.checkFollowOns(req, typ, args, now)
	if err != nil {
		return nil, err
	}
	return &farm.Job{
		ID:             farm.NewID(now),
		Type:           typ.Kind(),
		Status:         farm.StatusQueued,
		Pool:           pool,
		Score:          typ.Score(args, priority),
		Priority:       priority,
		Payload:        payload,
		RequestedBy:    req.RequestedBy,
		CreatedAt:      now,
		MaxAttempts:    maxAttempts,
		TimeoutSeconds: timeout,
		ParentID:       req.ParentID,
		DependsOn:      slices.Clone(req.DependsOn),
		Version:        1,

		DeclaresFollowOns: declaresFollowOns,
	}, nil
}

// checkSource refuses a submitted source outside the farm's drop zone. The
// farm's own jobs (follow-ons) may name what it made; a submitter only
// what was uploaded under incoming/.
func (a *Admission) checkSource(req Request, args farm.Args) error {
	src, ok := args.(farm.ObjectSource)
	if !ok || req.Internal {
		return nil
	}
	if err := a.sources.Check(src.ObjectSource().Source); err != nil {
		var fe *farm.Error
		if errors.As(err, &fe) {
			return farm.FieldError("payload."+fe.Field, "%s", strings.TrimPrefix(fe.Message, fe.Field+": "))
		}
		return err
	}
	return nil
}

// limits are the job's attempts and timeout: the type's defaults unless
// the request sets them, within bounds.
func limits(req Request, d farm.Defaults) (maxAttempts, timeout int, err error) {
	maxAttempts, timeout = d.MaxAttempts, d.TimeoutSeconds
	if req.MaxAttempts != nil {
		if maxAttempts = *req.MaxAttempts; maxAttempts < 1 || maxAttempts > MaxMaxAttempts {
			return 0, 0, farm.FieldError("max_attempts", "must be between 1 and %d", MaxMaxAttempts)
		}
	}
	if req.TimeoutSeconds != nil {
		if timeout = *req.TimeoutSeconds; timeout < 1 || timeout > MaxTimeoutSeconds {
			return 0, 0, farm.FieldError("timeout_seconds", "must be between 1 and %d", MaxTimeoutSeconds)
		}
	}
	if len(req.IdempotencyKey) > MaxIdempotencyKeyLen {
		return 0, 0, farm.FieldError("idempotency_key", "is longer than %d characters", MaxIdempotencyKeyLen)
	}
	return maxAttempts, timeout, nil
}

// checkDependencies validates the ids a job waits for.
func checkDependencies(req Request) error {
	if len(req.DependsOn) > MaxDependsOn {
		return farm.FieldError("depends_on", "at most %d dependencies", MaxDependsOn)
	}
	for i, id := range req.DependsOn {
		if !farm.ValidID(id) {
			return farm.FieldError(fmt.Sprintf("depends_on[%d]", i), "%q is not a job id", id)
		}
		if slices.Index(req.DependsOn, id) != i {
			return farm.FieldError(fmt.Sprintf("depends_on[%d]", i), "job %s is listed twice", id)
		}
	}
	return nil
}

// checkFollowOns validates the follow-on jobs a payload declares now, not
// when the job succeeds, and reports whether it declares any (a type's
// follow-ons follow from its arguments; the job's outcome only fills them
// in). A type that cannot tell yet counts as declaring some.
func (a *Admission) checkFollowOns(req Request, typ farm.JobType, args farm.Args, now time.Time) (bool, error) {
	specs, err := typ.FollowOns(args, &farm.Job{})
	if err != nil {
		return true, nil
	}
	for i, f := range specs {
		prio := f.Priority
		if _, err := a.NewJob(Request{Type: f.Type, Payload: f.Payload, Priority: &prio, Privileged: req.Privileged}, now); err != nil {
			var fe *farm.Error
			if errors.As(err, &fe) && (fe.Code == farm.EInvalid || fe.Code == farm.EForbidden) {
				field := fmt.Sprintf("payload.then[%d]", i)
				return false, &farm.Error{Code: fe.Code, Field: field, Message: field + ": " + fe.Message}
			}
			return false, err
		}
	}
	return len(specs) > 0, nil
}

// checkPrivileges refuses what only an admin may ask for: payload fields
// the type keeps for admins, and priorities beyond ±MaxSubmitterPriority.
// The farm's own jobs (follow-ons) were checked when their parent was
// submitted.
func checkPrivileges(req Request, typ farm.JobType, args farm.Args) error {
	if req.Privileged || req.Internal {
		return nil
	}
	if fields := typ.Privileged(args); len(fields) > 0 {
		field := "payload." + fields[0]
		return &farm.Error{Code: farm.EForbidden, Field: field, Message: fmt.Sprintf("%s: only an admin may set %s (it raises the job's score above other submitters' jobs)", field, strings.Join(fields, ", "))}
	}
	if req.Priority != nil && (*req.Priority < -MaxSubmitterPriority || *req.Priority > MaxSubmitterPriority) {
		return &farm.Error{Code: farm.EForbidden, Field: "priority", Message: fmt.Sprintf("priority: must be between %d and %d (admins: ±%d)", -MaxSubmitterPriority, MaxSubmitterPriority, MaxPriority)}
	}
	return nil
}

// storedPayload is the payload as the job keeps it: the parsed args
// encoded again (defaults filled in), without HTML escaping ('<' stays one
// byte, not six), and within MaxPayloadBytes in that form, which is what
// the store and every reader see.
func storedPayload(args farm.Args) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return nil, farm.Internal(err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(payload) > MaxPayloadBytes {
		return nil, farm.FieldError("payload", "is %d bytes once stored (characters such as U+2028 take six bytes in JSON), more than the %d allowed", len(payload), MaxPayloadBytes)
	}
	return payload, nil
}
