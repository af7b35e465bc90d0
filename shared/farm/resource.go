package farm

import (
	"maps"
	"strings"
	"time"
)

// ResourceState is where a pooled resource is in its cycle:
// free -> used -> dirty -> cleaning -> free.
type ResourceState string

const (
	ResourceFree     ResourceState = "free"
	ResourceUsed     ResourceState = "used"
	ResourceDirty    ResourceState = "dirty"
	ResourceCleaning ResourceState = "cleaning"
)

// ResourcePool is a named set of reusable resources (PPAs, test accounts, devices).
type ResourcePool struct {
	Name         string    `json:"name"`
	Description  string    `json:"description,omitempty"`
	LeaseSeconds int       `json:"lease_seconds"`
	CleanScript  string    `json:"clean_script,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int64     `json:"version"`
}

// Resource is one member of a resource pool.
type Resource struct {
	Pool       string            `json:"pool"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes,omitempty"`
	State      ResourceState     `json:"state"`
	Holder     string            `json:"holder,omitempty"`
	// AcquiredBy is the principal that acquired it: only it (or an admin) releases it.
	AcquiredBy string `json:"acquired_by,omitempty"`
	// LeaseToken proves the holder; it is shown once, on acquire.
	LeaseToken     string     `json:"-"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	CleanJobID     string     `json:"clean_job_id,omitempty"`
	// CleanJobVersion is the version of the clean job the state last followed,
	// so that the same change of the job is never counted twice.
	CleanJobVersion int64 `json:"-"`
	CleanFailures   int   `json:"clean_failures,omitempty"`
	// Flagged is set when cleaning failed too often; an admin must look at it.
	Flagged   string    `json:"flagged,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// Clone returns a deep copy.
func (r *Resource) Clone() *Resource {
	if r == nil {
		return nil
	}
	c := *r
	c.Attributes = maps.Clone(r.Attributes)
	c.LeaseExpiresAt = cloneTime(r.LeaseExpiresAt)
	return &c
}

// Clone returns a copy.
func (p *ResourcePool) Clone() *ResourcePool {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// Bounds of a resource's name and attributes, so that a resource stays a
// small item.
const (
	MaxResourceName       = 128
	MaxResourceAttributes = 32
	MaxAttributeKey       = 128
	MaxAttributeValue     = 1024
)

// ValidResourceName reports whether s can name a pooled resource: 1-128
// characters without '/' or white space (it appears in URL paths).
func ValidResourceName(s string) bool {
	return s != "" && len(s) <= MaxResourceName && !strings.ContainsAny(s, "/ \t\n\r")
}

// CheckResource validates a new resource's name and attributes.
func CheckResource(name string, attrs map[string]string) error {
	if !ValidResourceName(name) {
		return FieldError("name", "must be 1-%d characters without '/' or white space", MaxResourceName)
	}
	if len(attrs) > MaxResourceAttributes {
		return FieldError("attributes", "at most %d attributes", MaxResourceAttributes)
	}
	for k, v := range attrs {
		if k == "" || len(k) > MaxAttributeKey {
			return FieldError("attributes", "names must be 1-%d characters", MaxAttributeKey)
		}
		if len(v) > MaxAttributeValue {
			return FieldError("attributes."+clipName(k), "is longer than %d characters", MaxAttributeValue)
		}
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// MaxCleanFailures is how many times in a row cleaning a resource may fail
// before it is flagged for an admin (who may retry the clean job by hand)
// instead of being cleaned again.
const MaxCleanFailures = 3
