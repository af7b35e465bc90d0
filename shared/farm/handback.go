package farm

import (
	"fmt"
	"time"
)

// MaxHandBackReason bounds the reason a builder gives for handing a job back.
const MaxHandBackReason = 500

// HandBack returns a job its builder cannot finish through no fault of the
// job's (a spot interruption notice, the machine going away) to the queue at
// once, fenced by the claim token: no lease to wait out, no backoff, and the
// interrupted attempt is not counted against max_attempts. A job that was
// being cancelled ends cancelled instead. The history event says why.
func (j *Job) HandBack(builder, token, reason string, now time.Time) (*Job, *JobEvent, error) {
	if err := j.CheckClaim(token); err != nil {
		return nil, nil, err
	}
	if j.Builder != builder {
		return nil, nil, Errorf(EConflict, "job %s is held by builder %s, not %s", j.ID, j.Builder, builder)
	}
	actor := "builder:" + builder
	if j.Status == StatusCancelling {
		n, ev, err := j.next(StatusCancelled, actor, "handed back while cancelling: "+reason, now)
		if err == nil {
			n.Result = string(StatusCancelled)
		}
		return n, ev, err
	}
	n, ev, err := j.next(StatusQueued, actor, fmt.Sprintf("handed back by %s: %s; requeued at once (attempt %d not counted)", builder, reason, j.Attempts), now)
	if err != nil {
		return nil, nil, err
	}
	n.Attempts = max(j.Attempts-1, 0)
	n.StartedAt, n.NotBefore = nil, nil
	return n, ev, nil
}
