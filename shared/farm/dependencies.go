package farm

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxDependencyReason bounds the reason a job failed by its dependency
// carries (a chain of failures names each link, nearest first).
const MaxDependencyReason = 1000

// DependencyFailure is why a job whose dependency dep ended without
// succeeding fails: it names dep, how it ended, and why (its own error,
// which for a job failed by its dependency names the next link of the
// chain, back to the job that failed first).
func DependencyFailure(dep *Job) string {
	reason := fmt.Sprintf("dependency %s %s", dep.ID, dep.Status)
	if dep.Error != "" {
		reason += ": " + dep.Error
	}
	if len(reason) > MaxDependencyReason {
		cut := MaxDependencyReason - len("...")
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut] + "..."
	}
	return reason
}

// DependencyGone is why a waiting job fails whose dependency id no longer
// exists (its record expired, or was never written).
func DependencyGone(id string) string {
	return fmt.Sprintf("dependency %s no longer exists", id)
}

// DependencyFailed fails a waiting job because its dependency dep ended
// without succeeding.
func (j *Job) DependencyFailed(dep *Job, now time.Time) (*Job, *JobEvent, error) {
	return j.failWaiting(DependencyFailure(dep), now)
}

// DependencyMissing fails a waiting job whose dependency id is gone.
func (j *Job) DependencyMissing(id string, now time.Time) (*Job, *JobEvent, error) {
	return j.failWaiting(DependencyGone(id), now)
}

func (j *Job) failWaiting(reason string, now time.Time) (*Job, *JobEvent, error) {
	if j.Status != StatusWaiting {
		return nil, nil, Errorf(EConflict, "job %s is %s, not waiting", j.ID, j.Status)
	}
	n, ev, err := j.next(StatusFailed, "dispatcher", reason, now)
	if err == nil {
		n.Result, n.Error = string(StatusFailed), reason
	}
	return n, ev, err
}
