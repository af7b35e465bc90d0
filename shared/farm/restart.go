package farm

import (
	"fmt"
	"time"
)

// A boot id names one run of a builder's agent: the agent draws a fresh one
// each time its process starts (a crash, an upgrade, a reboot of the
// machine all start a new process). The jobs an agent runs die with its
// process, and a new process holds none of its predecessor's claim tokens,
// so a builder that registers under its name with another boot id than the
// one the farm knows has lost every job the farm still counts as its own:
// those are taken back at once (BuilderRestarted) instead of waiting for
// their leases to expire, and the old claims' tokens die with them.

// MaxBootID bounds a boot id's length.
const MaxBootID = 128

// CheckBootID checks a registration's boot id ("" is allowed: a
// registration without one, an admin's or an older agent's, restarts
// nothing).
func CheckBootID(field, id string) error {
	if len(id) > MaxBootID {
		return FieldError(field, "is longer than %d characters", MaxBootID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return FieldError(field, "may hold only letters, digits, '-', '_', '.' and ':'")
		}
	}
	return nil
}

// Restarted reports whether a registration with bootID comes from a new
// run of the builder's agent: both boot ids are known and differ.
func (b *Builder) Restarted(bootID string) bool {
	return b != nil && b.BootID != "" && bootID != "" && b.BootID != bootID
}

// HeldBy reports whether builder holds the job now (it runs or is
// cancelling under builder's claim).
func (j *Job) HeldBy(builder string) bool {
	return j.Status.Active() && j.Builder == builder && j.ClaimToken != ""
}

// BuilderRestarted takes a job back from its builder, which registered
// again under a new boot id (newBoot) while the job was still its own:
// the run died with the builder's old process. The job is requeued at
// once (no backoff: the builder is known to be back, nothing to wait for),
// or ends like a job whose lease expired when it is out of attempts or has
// lost too many builders. The claim token is cleared, so the old run's
// late heartbeats and completions are refused.
func (j *Job) BuilderRestarted(builder, newBoot string, now time.Time, maxBuilderFailures int) (*Job, *JobEvent, error) {
	if !j.HeldBy(builder) {
		return nil, nil, Errorf(EConflict, "job %s is %s and not held by builder %s", j.ID, j.Status, builder)
	}
	return j.builderLost("builder:"+builder, fmt.Sprintf("builder %s restarted (new boot %s): its run of the job died with it", builder, Clip(newBoot)), now, 0, maxBuilderFailures)
}

// BlameLostJob counts a job lost on the builder (after is the job as the
// loss left it) against the builder, unless the job is the likelier
// culprit — it has lost more builders than this builder has failed jobs in
// a row (Launchpad's rule: blame the side that fails more). The builder is
// disabled once its consecutive failures reach maxFailures; BlameLostJob
// reports whether it disabled it now.
func (b *Builder) BlameLostJob(after *Job, why string, now time.Time, maxFailures int) (disabled bool) {
	if after.BuilderFailures > b.ConsecutiveFailures+1 {
		return false
	}
	b.ConsecutiveFailures++
	b.TotalFailures++
	if b.ConsecutiveFailures >= maxFailures && !b.Disabled {
		b.Disabled = true
		b.DisabledReason = fmt.Sprintf("disabled automatically after %d consecutive failures (last: %s job %s at %s)", b.ConsecutiveFailures, why, after.ID, now.Format(time.RFC3339))
		return true
	}
	return false
}
