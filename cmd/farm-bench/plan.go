package main

import "time"

// plan is how much a run measures.
type plan struct {
	mode    string
	timeout time.Duration
	// rounds is how many times the headline figures are measured (the
	// latency scenario and the shape with the most slots): each is the
	// median of the rounds.
	rounds int
	// latencySamples is per round.
	latencySamples    int
	latencyPause      time.Duration
	shapes            []shape
	throughputJobs    int
	throughputTimeout time.Duration
	priorityJobs      int
	priorityBlock     time.Duration
	leaseJob          time.Duration
	coldStarts        int
}

// defaultPlan takes about 4 minutes on an idle 2-core machine: 3 rounds,
// 210 latency samples of each kind (so that p99 is not the maximum). Its
// timeout is a safety net with room for a busy machine, not the goal.
func defaultPlan() plan {
	return plan{
		mode:              "default",
		timeout:           9 * time.Minute,
		rounds:            3,
		latencySamples:    70,
		latencyPause:      200 * time.Millisecond,
		shapes:            []shape{{1, 1}, {2, 1}, {2, 2}, {4, 1}},
		throughputJobs:    80,
		throughputTimeout: 60 * time.Second,
		priorityJobs:      40,
		priorityBlock:     4 * time.Second,
		leaseJob:          6 * time.Second,
		coldStarts:        5,
	}
}

// quickPlan takes about a minute on an idle machine: 3 rounds still, of
// fewer samples (30 latency samples of each kind: p99 is their maximum)
// and one shape.
func quickPlan() plan {
	return plan{
		mode:              "quick",
		timeout:           3 * time.Minute,
		rounds:            3,
		latencySamples:    10,
		latencyPause:      150 * time.Millisecond,
		shapes:            []shape{{2, 2}},
		throughputJobs:    16,
		throughputTimeout: 20 * time.Second,
		priorityJobs:      12,
		priorityBlock:     3 * time.Second,
		leaseJob:          5 * time.Second,
		coldStarts:        1,
	}
}
