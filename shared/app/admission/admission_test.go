package admission_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newAdmission() *admission.Admission {
	return admission.New(nil, farm.NewPools([]string{"default", "amd64"}), farm.SourcePolicy{Bucket: "farm", Prefix: "incoming/"})
}

func ptr[T any](v T) *T { return &v }

// Every refusal names the field at fault with the right code.
func TestRefusalsNameTheField(t *testing.T) {
	t.Parallel()
	a := newAdmission()
	script := func(payload string) admission.Request {
		return admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(payload)}
	}
	withPrio := func(r admission.Request, p int64) admission.Request { r.Priority = &p; return r }
	for _, tc := range []struct {
		name  string
		req   admission.Request
		code  string
		field string
	}{
		{"unknown type", admission.Request{Type: "nope"}, farm.EInvalid, "type"},
		{"internal type submitted", admission.Request{Type: farm.TypeCleanResource, Payload: json.RawMessage(`{"resource_pool":"p","resource":"r"}`)}, farm.EInvalid, "type"},
		{"payload too large", script(`{"script":"` + strings.Repeat("x", admission.MaxPayloadBytes) + `"}`), farm.EInvalid, "payload"},
		{"unknown payload field", script(`{"script":"x","bogus":1}`), farm.EInvalid, "payload.bogus"},
		{"pool not served", script(`{"script":"x","pool":"arm64"}`), farm.EInvalid, "payload"},
		{"source outside incoming/", script(`{"script":"x","source":"s3://farm/logs/x.log"}`), farm.EInvalid, "payload.source"},
		{"source in another bucket", script(`{"script":"x","source":"s3://other/incoming/x"}`), farm.EInvalid, "payload.source"},
		{"priority out of range", withPrio(script(`{"script":"x"}`), admission.MaxPriority+1), farm.EInvalid, "priority"},
		{"submitter priority over the cap", withPrio(script(`{"script":"x"}`), admission.MaxSubmitterPriority+1), farm.EForbidden, "priority"},
		{"admin-only payload field", admission.Request{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(`{"package":"p","private":true}`)}, farm.EForbidden, "payload.private"},
		{"max_attempts 0", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), MaxAttempts: ptr(0)}, farm.EInvalid, "max_attempts"},
		{"max_attempts too many", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), MaxAttempts: ptr(admission.MaxMaxAttempts + 1)}, farm.EInvalid, "max_attempts"},
		{"timeout too long", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), TimeoutSeconds: ptr(admission.MaxTimeoutSeconds + 1)}, farm.EInvalid, "timeout_seconds"},
		{"idempotency key too long", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), IdempotencyKey: strings.Repeat("k", admission.MaxIdempotencyKeyLen+1)}, farm.EInvalid, "idempotency_key"},
		{"dependency not an id", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: []string{"nope"}}, farm.EInvalid, "depends_on[0]"},
		{"dependency twice", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: []string{farm.NewID(now), "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}, farm.EInvalid, "depends_on[2]"},
		{"too many dependencies", admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: make([]string, admission.MaxDependsOn+1)}, farm.EInvalid, "depends_on"},
		{"invalid follow-on", script(`{"script":"x","then":[{"type":"script","payload":{}}]}`), farm.EInvalid, "payload.then[0]"},
		{"follow-on with an admin-only field", script(`{"script":"x","then":[{"type":"binary-build","payload":{"package":"p","archive_score":9}}]}`), farm.EForbidden, "payload.then[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.NewJob(tc.req, now)
			var fe *farm.Error
			if !farm.IsCode(err, tc.code) || !asFarmError(err, &fe) || fe.Field != tc.field {
				t.Fatalf("NewJob = %v, want %s on field %q", err, tc.code, tc.field)
			}
		})
	}
}

func asFarmError(err error, target **farm.Error) bool {
	e, ok := err.(*farm.Error)
	*target = e
	return ok
}

// An admitted job is queued in its type's pool with its type's defaults,
// scored from its payload and priority, its payload stored as parsed.
func TestAdmittedJob(t *testing.T) {
	t.Parallel()
	a := newAdmission()
	j, err := a.NewJob(admission.Request{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(`{"package":"hello","pocket":"security","arch":"amd64"}`),
		Priority: ptr(int64(7)), RequestedBy: "submitter:a", DependsOn: []string{"01ARZ3NDEKTSV4RRFFQ69G5FAV"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != farm.StatusQueued || j.Pool != "amd64" || j.Score != 4500+1000+10+7 || // security, main, medium (defaults), priority
		j.Priority != 7 || j.RequestedBy != "submitter:a" ||
		!farm.ValidID(j.ID) || !j.CreatedAt.Equal(now) || j.Version != 1 || len(j.DependsOn) != 1 || j.MaxAttempts < 1 || j.TimeoutSeconds < 1 {
		t.Fatalf("job %+v", j)
	}
	// '<' is kept as one byte, not escaped.
	s, err := a.NewJob(admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"echo '<x>'"}`), MaxAttempts: ptr(2), TimeoutSeconds: ptr(30)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pool != farm.DefaultPool || s.MaxAttempts != 2 || s.TimeoutSeconds != 30 || !strings.Contains(string(s.Payload), "<x>") {
		t.Fatalf("script job %+v payload %s", s, s.Payload)
	}
}

// What only an admin may ask is refused to submitters, allowed to admins
// and to the farm's own jobs.
func TestPrivileges(t *testing.T) {
	t.Parallel()
	a := newAdmission()
	req := admission.Request{Type: farm.TypeBinaryBuild, Payload: json.RawMessage(`{"package":"p","private":true}`), Priority: ptr(int64(admission.MaxSubmitterPriority + 5))}
	if _, err := a.NewJob(req, now); !farm.IsCode(err, farm.EForbidden) {
		t.Fatalf("submitter: %v", err)
	}
	for _, r := range []admission.Request{{Privileged: true}, {Internal: true}} {
		r.Type, r.Payload, r.Priority = req.Type, req.Payload, req.Priority
		j, err := a.NewJob(r, now)
		if err != nil || j.Score < farm.PrivateArchiveBonus {
			t.Fatalf("privileged %+v: %v %+v", r, err, j)
		}
	}
	// The farm's own jobs may name a source outside incoming/ (an artifact of their parent).
	if _, err := a.NewJob(admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x","source":"s3://farm/artifacts/p/1/a"}`), Internal: true}, now); err != nil {
		t.Fatalf("internal source: %v", err)
	}
}
