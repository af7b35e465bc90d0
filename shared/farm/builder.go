package farm

import (
	"fmt"
	"slices"
	"time"
)

// BuilderKind says where a builder runs.
type BuilderKind string

const (
	KindEC2   BuilderKind = "ec2"
	KindMetal BuilderKind = "metal"
)

// BuilderState is a builder's availability.
type BuilderState string

const (
	BuilderIdle     BuilderState = "idle"
	BuilderBusy     BuilderState = "busy"
	BuilderDraining BuilderState = "draining"
	BuilderLost     BuilderState = "lost"
	BuilderDisabled BuilderState = "disabled"
)

// CleanStatus is whether a builder is fit for a job type that needs a clean machine.
type CleanStatus string

const (
	CleanClean    CleanStatus = "clean"
	CleanDirty    CleanStatus = "dirty"
	CleanCleaning CleanStatus = "cleaning"
)

// Builder is a machine that runs jobs: an EC2 instance or a bare-metal host.
type Builder struct {
	Name                string            `json:"name"`
	Kind                BuilderKind       `json:"kind"`
	Arch                string            `json:"arch"`
	Pools               []string          `json:"pools"`
	Capabilities        []string          `json:"capabilities"`
	Slots               int               `json:"slots"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	State               BuilderState      `json:"state"`
	CleanStatus         CleanStatus       `json:"clean_status"`
	Draining            bool              `json:"draining"`
	LastHeartbeat       *time.Time        `json:"last_heartbeat,omitempty"`
	CurrentJobs         []string          `json:"current_jobs"`
	ConsecutiveFailures int               `json:"consecutive_failures"`
	TotalFailures       int               `json:"total_failures"`
	JobsCompleted       int               `json:"jobs_completed"`
	Disabled            bool              `json:"disabled"`
	DisabledReason      string            `json:"disabled_reason,omitempty"`
	// BootID names the run of the builder's agent that registered last
	// (restart.go); "" when it gave none.
	BootID       string    `json:"boot_id,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int64     `json:"version"`

	// DrainRequested is the farm's own request that the builder drain (the
	// scaler retiring an idle instance): it claims nothing more, and its
	// heartbeats answer drain, until the request is lifted. Registering
	// again does not lift it.
	DrainRequested   bool       `json:"drain_requested,omitempty"`
	DrainReason      string     `json:"drain_reason,omitempty"`
	DrainRequestedAt *time.Time `json:"drain_requested_at,omitempty"`
}

// BuilderSpec is what a builder registers with.
type BuilderSpec struct {
	Kind         BuilderKind       `json:"kind"`
	Arch         string            `json:"arch"`
	Pools        []string          `json:"pools"`
	Capabilities []string          `json:"capabilities,omitempty"`
	Slots        int               `json:"slots,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	// BootID names this run of the builder's agent (restart.go): a new one
	// under the same name means the agent restarted and lost its jobs.
	BootID string `json:"boot_id,omitempty"`
}

// MaxSlots bounds the jobs one builder runs at once.
const MaxSlots = 64

// Validate checks a registration and fills defaults.
func (s *BuilderSpec) Validate() error {
	switch s.Kind {
	case KindEC2, KindMetal:
	case "":
		return FieldError("kind", "is required (ec2 or metal)")
	default:
		return FieldError("kind", "must be ec2 or metal, not %q", s.Kind)
	}
	if err := checkArch("arch", &s.Arch, ""); err != nil {
		return err
	}
	if len(s.Pools) == 0 {
		return FieldError("pools", "at least one pool is required")
	}
	if len(s.Pools) > 16 {
		return FieldError("pools", "at most 16 pools")
	}
	for i, p := range s.Pools {
		if err := CheckName(fmt.Sprintf("pools[%d]", i), p); err != nil {
			return err
		}
	}
	if len(s.Capabilities) > 64 {
		return FieldError("capabilities", "at most 64 capabilities")
	}
	if s.Slots == 0 {
		s.Slots = 1
	}
	if s.Slots < 1 || s.Slots > MaxSlots {
		return FieldError("slots", "must be between 1 and %d", MaxSlots)
	}
	if len(s.Metadata) > 32 {
		return FieldError("metadata", "at most 32 entries")
	}
	return CheckBootID("boot_id", s.BootID)
}

// Serves reports whether the builder takes jobs of pool.
func (b *Builder) Serves(pool string) bool { return slices.Contains(b.Pools, pool) }

// Clone returns a deep copy.
func (b *Builder) Clone() *Builder {
	if b == nil {
		return nil
	}
	c := *b
	c.Pools = slices.Clone(b.Pools)
	c.Capabilities = slices.Clone(b.Capabilities)
	c.CurrentJobs = slices.Clone(b.CurrentJobs)
	c.LastHeartbeat = cloneTime(b.LastHeartbeat)
	c.DrainRequestedAt = cloneTime(b.DrainRequestedAt)
	if b.Metadata != nil {
		c.Metadata = make(map[string]string, len(b.Metadata))
		for k, v := range b.Metadata {
			c.Metadata[k] = v
		}
	}
	return &c
}

// Refresh recomputes State from the builder's flags and jobs. A lost builder
// stays lost until it heartbeats again (the caller clears it then).
func (b *Builder) Refresh() {
	switch {
	case b.Disabled:
		b.State = BuilderDisabled
	case b.State == BuilderLost:
	case b.Draining || b.DrainRequested:
		b.State = BuilderDraining
	case len(b.CurrentJobs) > 0:
		b.State = BuilderBusy
	default:
		b.State = BuilderIdle
	}
}

// CanClaim reports whether the builder may take a new job now. Its slots
// are not counted here: the agent claims only with a free slot, and the
// farm writes no builder item per claim to count them (CurrentJobs is what
// its last heartbeat reported).
func (b *Builder) CanClaim() error {
	switch {
	case b.Disabled:
		return Errorf(EConflict, "builder %s is disabled: %s", b.Name, b.DisabledReason)
	case b.Draining:
		return Errorf(EConflict, "builder %s is draining", b.Name)
	case b.DrainRequested:
		return Errorf(EConflict, "builder %s is asked to drain: %s", b.Name, b.DrainReason)
	}
	return nil
}

// SameForClaims reports whether a claim would decide alike on b and other:
// same pools, slots, disabled and drain state, clean status and failure
// count (app/claims and AfterRun read these from a cached record). A
// builder write that changes one of them bumps the auth generation, so the
// API instances' cached records follow within seconds.
func (b *Builder) SameForClaims(other *Builder) bool {
	if b == nil || other == nil {
		return b == other
	}
	return b.Name == other.Name && slices.Equal(b.Pools, other.Pools) && b.Slots == other.Slots &&
		b.Disabled == other.Disabled && b.Draining == other.Draining && b.DrainRequested == other.DrainRequested &&
		b.CleanStatus == other.CleanStatus && b.ConsecutiveFailures == other.ConsecutiveFailures
}
