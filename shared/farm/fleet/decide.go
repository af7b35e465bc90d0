package fleet

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Removal is one instance to take out of its group, and why.
type Removal struct {
	ID  string
	Why string
}

// Decision is what the scaler does for one pool on one tick.
type Decision struct {
	Pool string
	// Need is the instances the work needs: ceil((queued + running)/slots),
	// not counting jobs running on draining builders (they have theirs).
	Need int
	// Target is Need within [Min, Max].
	Target int
	// Alive and Serving count the instances observed: alive (pending or in
	// service) and, of those, the ones taking work (not draining).
	Alive, Serving int
	// Desired is the capacity to set: never above the pool's Max.
	Desired int
	// Terminate are idle instances to remove (each decrementing desired).
	Terminate []Removal
	// Drain are idle instances to ask to drain; Undrain are drained ones
	// to put back to work instead of launching new ones.
	Drain, Undrain []string
	// Marks are the per-instance notes to keep for the next tick.
	Marks  map[string]Mark
	Reason string
}

// Changes reports whether the decision acts on anything.
func (d *Decision) Changes(current int) bool {
	return d.Desired != current || len(d.Terminate)+len(d.Drain)+len(d.Undrain) > 0
}

// Decide computes one pool's decision from an observation at now.
//
// Capacity follows the work: the pool needs ceil((queued + running) /
// slots) instances, kept within [min, max]. Scale-out lifts standing drain
// requests first (warm instances), then raises desired capacity by the
// rest — never above max. Scale-in only ever drains instances whose builder
// has held nothing for the pool's idle time, longest idle first, and only
// as many as serve beyond the target; an instance is removed only when its
// builder holds no job and is draining (asked by the farm at least
// DrainGrace ago, or on its own: an ephemeral builder's job is done, a spot
// notice), or when it never registered a builder within the boot time. A
// busy builder is never chosen.
func Decide(cfg PoolConfig, obs Observation, now time.Time) Decision {
	d := Decision{Pool: cfg.Pool, Marks: map[string]Mark{}}
	var alive []Instance
	for _, in := range obs.Group.Instances {
		if in.Alive() {
			alive = append(alive, in)
		}
	}
	slices.SortFunc(alive, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	d.Alive = len(alive)
	// Jobs running on draining builders have their capacity already (it
	// leaves with them); the rest of the work needs serving instances.
	retiringJobs := 0
	for _, in := range alive {
		if b, ok := obs.Builders[in.ID]; ok && (b.Draining || b.DrainRequested) {
			retiringJobs += b.Jobs
		}
	}
	jobs := max(obs.Demand.Queued, 0) + max(obs.Demand.Running-retiringJobs, 0)
	d.Need = (jobs + cfg.Slots - 1) / max(cfg.Slots, 1)
	d.Target = min(max(d.Need, cfg.Min), cfg.Max)

	var requested []string // drain requested by the farm, builder idle or busy
	var drainable []string // serving, idle for the pool's idle time
	removing := map[string]bool{}
	for _, in := range alive {
		m := d.mark(in, obs, now)
		b, registered := obs.Builders[in.ID]
		switch {
		case !registered:
			if now.Sub(m.FirstSeen) >= cfg.Boot() {
				d.Terminate = append(d.Terminate, Removal{in.ID, fmt.Sprintf("no builder registered within %s of launch", cfg.Boot())})
				removing[in.ID] = true
				continue
			}
			d.Serving++ // booting: capacity on its way
		case b.Draining && !b.Busy():
			d.Terminate = append(d.Terminate, Removal{in.ID, "its builder drained on its own and holds nothing"})
			removing[in.ID] = true
		case b.Draining:
			// Finishing what it holds; it takes nothing more.
		case b.DrainRequested:
			requested = append(requested, in.ID)
		default:
			d.Serving++
			if !b.Busy() && !m.IdleSince.IsZero() && now.Sub(m.IdleSince) >= cfg.Idle() {
				drainable = append(drainable, in.ID)
			}
		}
	}

	short := d.Target - d.Serving
	for _, id := range requested {
		b := obs.Builders[id]
		switch {
		case short > 0:
			d.Undrain = append(d.Undrain, id)
			short--
		case !b.Busy() && now.Sub(b.DrainRequestedAt) >= DrainGrace:
			d.Terminate = append(d.Terminate, Removal{id, "idle and drained"})
			removing[id] = true
		}
	}
	if excess := -short; excess > 0 {
		slices.SortStableFunc(drainable, func(a, b string) int {
			return d.Marks[a].IdleSince.Compare(d.Marks[b].IdleSince)
		})
		d.Drain = drainable[:min(excess, len(drainable))]
	}
	after := d.Alive - len(removing)
	d.Desired = min(max(after+max(short, 0), cfg.Min), cfg.Max)
	d.Reason = fmt.Sprintf("%d jobs (%d queued, %d running, %d of them on draining builders) need %d instances of %d slots; target %d (min %d, max %d); %d alive, %d serving: desired %d, drain %d, undrain %d, remove %d",
		jobs, obs.Demand.Queued, obs.Demand.Running, retiringJobs, d.Need, cfg.Slots, d.Target, cfg.Min, cfg.Max, d.Alive, d.Serving, d.Desired, len(d.Drain), len(d.Undrain), len(d.Terminate))
	return d
}

// mark updates and keeps the scaler's note on an alive instance.
func (d *Decision) mark(in Instance, obs Observation, now time.Time) Mark {
	m, seen := obs.Marks[in.ID]
	if !seen {
		m = Mark{FirstSeen: now}
	}
	if b, ok := obs.Builders[in.ID]; ok {
		switch {
		case b.Busy():
			m.IdleSince = time.Time{}
		case m.IdleSince.IsZero() || b.JobsCompleted != m.Completed:
			m.IdleSince = now
		}
		m.Completed = b.JobsCompleted
	}
	d.Marks[in.ID] = m
	return m
}
