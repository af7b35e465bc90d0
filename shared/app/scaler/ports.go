// Package scaler runs the elastic fleet: on each tick (an EventBridge
// schedule every minute, and early on bursts of submissions through a
// filtered jobs-stream event source) it observes each elastic pool — its
// queued and running jobs, its builders, its Auto Scaling group — asks the
// pure policy (farm/fleet) what to do, and does it: sets the group's
// desired capacity (never above the pool's max), asks idle builders to
// drain, lifts drains when work comes back, and removes drained idle
// instances one by one. Every decision is logged and emitted as EMF metrics.
package scaler

import (
	"context"

	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/farm/fleet"
)

// Store is what the scaler reads and keeps in the farm's store
// (adapter/memstore, adapter/dynamostore).
type Store interface {
	// CountPoolJobs counts a pool's queued and running (or cancelling)
	// jobs, each count stopping at upTo (<= 0: no bound).
	CountPoolJobs(ctx context.Context, pool string, upTo int) (fleet.Demand, error)
	ListBuilders(ctx context.Context) ([]*farm.Builder, error)
	// ActiveJobs lists the jobs builders hold (the reap index).
	ActiveJobs(ctx context.Context, builder string, limit int) ([]store.ActiveJob, error)
	GetBuilder(ctx context.Context, name string) (*farm.Builder, error)
	// GetScalerRecord returns the pool's record (Version 0 when none).
	GetScalerRecord(ctx context.Context, pool string) (*fleet.Record, error)
	// PutScalerRecord writes next if the stored record is still prev (by
	// version), else fails with a conflict wrapping store.ErrLostRace.
	PutScalerRecord(ctx context.Context, prev, next *fleet.Record) error
	// DeleteBuilder deletes a builder record if it is still prev (by
	// version): the record of an instance that is gone.
	DeleteBuilder(ctx context.Context, prev *farm.Builder) error
}

// Drainer asks builders to drain and lifts the request
// (app/builders.Service). RequestDrain with OnlyIdle refuses, as a
// conflict, a builder holding a job; once it succeeded the builder can take
// none (its claims are refused).
type Drainer interface {
	RequestDrain(ctx context.Context, req builders.DrainRequest) (*farm.Builder, error)
	LiftDrain(ctx context.Context, name string) (*farm.Builder, error)
}

// Groups is the pools' Auto Scaling groups (adapter/asgfleet on AWS and
// the emulator; a fake in tests).
type Groups interface {
	Describe(ctx context.Context, group string) (fleet.Group, error)
	// SetDesired sets the group's desired capacity. The scaler never asks
	// for more than the pool's max: AWS would refuse it, and emulators
	// accept it.
	SetDesired(ctx context.Context, group string, n int) error
	// Remove takes one instance out of its group for good: its scale-in
	// protection off, then terminated, decrementing desired capacity when
	// decrement is set.
	Remove(ctx context.Context, group, instanceID string, decrement bool) error
}
