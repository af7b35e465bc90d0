package fleet

import "time"

// Lifecycle is an instance's state in its Auto Scaling group, reduced to
// what the policy needs.
type Lifecycle string

const (
	// Pending: launching (Pending, Pending:Wait, Pending:Proceed).
	Pending Lifecycle = "pending"
	// InService: running as a member of the group.
	InService Lifecycle = "in-service"
	// Leaving: terminating, detaching, standby or in a warm pool: no longer capacity.
	Leaving Lifecycle = "leaving"
)

// Instance is one member of a pool's group.
type Instance struct {
	ID        string
	Lifecycle Lifecycle
	Protected bool
}

// Alive reports whether the instance is (or is about to be) capacity.
func (i Instance) Alive() bool { return i.Lifecycle == Pending || i.Lifecycle == InService }

// Group is a pool's Auto Scaling group as observed.
type Group struct {
	Name              string
	Min, Max, Desired int
	Instances         []Instance
}

// Builder is what the policy needs of an instance's builder record (named
// after the instance id).
type Builder struct {
	Name string
	// Jobs is how many jobs the farm counts on the builder.
	Jobs int
	// JobsCompleted only grows: a change between two looks means it worked.
	JobsCompleted int
	// Draining: the agent said it claims no more (its own drain: a signal,
	// a spot notice, an ephemeral builder's one job taken).
	Draining bool
	// DrainRequested: the farm (the scaler) asked it to drain.
	DrainRequested   bool
	DrainRequestedAt time.Time
	// Lost: no heartbeat for a lease.
	Lost bool
}

// Busy reports whether the builder holds work.
func (b Builder) Busy() bool { return b.Jobs > 0 }

// Demand is a pool's work: jobs queued (claimable now or held back) and
// jobs running (or being cancelled) on its builders.
type Demand struct {
	Queued, Running int
}

// Jobs is the work the pool needs capacity for.
func (d Demand) Jobs() int { return d.Queued + d.Running }

// Mark is what the scaler remembers about one instance between ticks.
type Mark struct {
	// FirstSeen is when the scaler first saw the instance alive.
	FirstSeen time.Time `json:"first_seen"`
	// IdleSince is when its builder was first seen holding nothing (zero: busy
	// or not registered yet).
	IdleSince time.Time `json:"idle_since,omitzero"`
	// Completed is the builder's JobsCompleted at the last look: a change
	// means it ran jobs between looks, so it was not idle all along.
	Completed int `json:"completed"`
}

// Observation is everything one decision is made from.
type Observation struct {
	Demand   Demand
	Group    Group
	Builders map[string]Builder // by name = instance id
	Marks    map[string]Mark    // by instance id, from the pool's scaler record
}
