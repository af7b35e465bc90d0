package main

import "time"

// plan is how much a run measures.
type plan struct {
	mode              string
	timeout           time.Duration
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

// defaultPlan stays under 5 minutes on a shared 2-core machine.
func defaultPlan() plan {
	return plan{
		mode:              "default",
		timeout:           4*time.Minute + 40*time.Second,
		latencySamples:    50,
		latencyPause:      300 * time.Millisecond,
		shapes:            []shape{{1, 1}, {2, 1}, {2, 2}, {4, 1}},
		throughputJobs:    80,
		throughputTimeout: 60 * time.Second,
		priorityJobs:      40,
		priorityBlock:     4 * time.Second,
		leaseJob:          6 * time.Second,
		coldStarts:        5,
	}
}

// quickPlan stays under a minute.
func quickPlan() plan {
	return plan{
		mode:              "quick",
		timeout:           55 * time.Second,
		latencySamples:    8,
		latencyPause:      200 * time.Millisecond,
		shapes:            []shape{{1, 1}, {2, 2}},
		throughputJobs:    16,
		throughputTimeout: 20 * time.Second,
		priorityJobs:      12,
		priorityBlock:     3 * time.Second,
		leaseJob:          5 * time.Second,
		coldStarts:        1,
	}
}
