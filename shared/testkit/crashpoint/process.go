// Package crashpoint stops a farm process between two of its writes, for
// tests: the API, the stream dispatcher or the reaper, built over ports
// (the store's writes, the doorbell, object storage) that count every
// write they pass on and fail everything after the one the process is to
// die after. Nothing after that write happens: the process is dead, and
// what it would have answered is never seen. A test then "restarts" the
// farm (fresh services over the same durable store, blobs and stream),
// lets the clients retry where they would, runs the farm's own recovery
// (the stream delivered again, reaper sweeps over the documented bounds)
// and checks that nothing was lost, stranded or left unfenced.
//
// The ports count writes generically: a use case is enumerated by running
// it once to count its writes, not by knowing how many it makes today.
package crashpoint

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/buildfarm/buildfarm/shared/app/store"
)

// ErrCrashed is what every write of a dead process returns (it never
// reaches the store).
var ErrCrashed = errors.New("crashpoint: the process has crashed")

// Write describes one write a process made: a store commit, a doorbell
// ring, an object put.
type Write struct {
	// Kind is "commit", "ring" or "put".
	Kind string
	// What describes it: the items a commit writes (job transitions as
	// id:from→to), the pool and job of a ring, the key of a put.
	What string
}

func (w Write) String() string { return w.Kind + " " + w.What }

// Process is one life of a farm process. It counts the writes that pass
// through its ports and dies right after the one it is to crash after:
// that write is applied, nothing after it is.
type Process struct {
	mu     sync.Mutex
	after  int
	when   func(Write) bool
	writes []Write
	dead   bool
}

// Live is a process that never crashes (it still counts its writes).
func Live() *Process { return &Process{} }

// CrashAfter is a process that dies right after its k-th write (k ≥ 1).
func CrashAfter(k int) *Process { return &Process{after: k} }

// CrashWhen is a process that dies right after its first write for which
// match holds (a test's setup: the API dying after a completion's write,
// so that only the dispatcher does its follow-up).
func CrashWhen(match func(Write) bool) *Process { return &Process{when: match} }

// Dead reports whether the process has crashed.
func (p *Process) Dead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// Writes are the writes the process made, in order.
func (p *Process) Writes() []Write {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Write(nil), p.writes...)
}

// write passes one write on unless the process is dead, and dies after
// it when it is the one to crash after. A write that fails (a lost race)
// changed nothing and is not counted.
func (p *Process) write(w Write, do func() error) error {
	p.mu.Lock()
	dead := p.dead
	p.mu.Unlock()
	if dead {
		return ErrCrashed
	}
	if err := do(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes = append(p.writes, w)
	if len(p.writes) == p.after || (p.when != nil && p.when(w)) {
		p.dead = true
	}
	return nil
}

// describe names what a transaction writes.
func describe(tx store.Tx) string {
	var parts []string
	for _, j := range tx.Jobs {
		from := "new"
		if j.Prev != nil {
			from = string(j.Prev.Status)
		}
		parts = append(parts, fmt.Sprintf("job %s:%s→%s", j.Next.ID, from, j.Next.Status))
	}
	for _, b := range tx.Builders {
		parts = append(parts, "builder "+b.Next.Name)
	}
	for _, r := range tx.Resources {
		parts = append(parts, fmt.Sprintf("resource %s/%s:%s", r.Next.Pool, r.Next.Name, r.Next.State))
	}
	for _, p := range tx.Pools {
		parts = append(parts, "resource pool "+p.Next.Name)
	}
	for _, d := range tx.Dependents {
		parts = append(parts, "edge "+d.JobID+"←"+d.DependentID)
	}
	for _, t := range tx.Tallies {
		parts = append(parts, "tally "+t.Next.JobID)
	}
	for range tx.Tokens {
		parts = append(parts, "token")
	}
	if tx.Idempotency != nil {
		parts = append(parts, "idempotency "+string(tx.Idempotency.Next.Status))
	}
	return strings.Join(parts, ", ")
}
