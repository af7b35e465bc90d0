package farm

// JobStatus is where a job is in its life.
type JobStatus string

const (
	StatusWaiting    JobStatus = "waiting"    // dependencies unfinished
	StatusQueued     JobStatus = "queued"     // ready; waits for a builder
	StatusRunning    JobStatus = "running"    // claimed by a builder under a lease
	StatusCancelling JobStatus = "cancelling" // cancel asked while running; the builder has not stopped yet
	StatusSucceeded  JobStatus = "succeeded"
	StatusFailed     JobStatus = "failed"
	StatusCancelled  JobStatus = "cancelled"
	StatusTimedOut   JobStatus = "timed_out"
)

// AllStatuses lists every job status, in life order.
var AllStatuses = []JobStatus{
	StatusWaiting, StatusQueued, StatusRunning, StatusCancelling,
	StatusSucceeded, StatusFailed, StatusCancelled, StatusTimedOut,
}

// transitions is the whole state machine: from -> allowed targets.
//
//   - waiting -> queued when every dependency succeeded, failed when one did not,
//     cancelled on request.
//   - queued -> running on a claim, cancelled on request.
//   - running -> a result from the builder, cancelling on request, queued when the
//     lease expired and attempts remain, timed_out/failed when they do not.
//   - cancelling -> cancelled when the builder stopped (or vanished); a builder
//     that finished before it saw the cancel may still report its result.
//   - failed/cancelled/timed_out -> queued on retry. succeeded is final.
var transitions = map[JobStatus][]JobStatus{
	StatusWaiting:    {StatusQueued, StatusFailed, StatusCancelled},
	StatusQueued:     {StatusRunning, StatusCancelled},
	StatusRunning:    {StatusSucceeded, StatusFailed, StatusTimedOut, StatusCancelling, StatusQueued},
	StatusCancelling: {StatusCancelled, StatusSucceeded, StatusFailed, StatusTimedOut},
	StatusFailed:     {StatusQueued},
	StatusCancelled:  {StatusQueued},
	StatusTimedOut:   {StatusQueued},
	StatusSucceeded:  nil,
}

// Valid reports whether s is a known status.
func (s JobStatus) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Terminal reports whether a job in s is finished (it may still be retried
// unless it succeeded).
func (s JobStatus) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCancelled, StatusTimedOut:
		return true
	}
	return false
}

// Active reports whether a builder holds a lease on a job in s.
func (s JobStatus) Active() bool {
	return s == StatusRunning || s == StatusCancelling
}

// CanTransition reports whether the state machine allows from -> to.
func CanTransition(from, to JobStatus) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// CheckTransition returns a conflict error when from -> to is not allowed.
func CheckTransition(from, to JobStatus) error {
	if !CanTransition(from, to) {
		return Errorf(EConflict, "job is %s and cannot become %s", from, to)
	}
	return nil
}

// ParseJobStatus validates a status given by a client.
func ParseJobStatus(s string) (JobStatus, error) {
	st := JobStatus(s)
	if !st.Valid() {
		return "", FieldError("status", "unknown status %q", s)
	}
	return st, nil
}
