// Package farmcheck checks the farm's promises from the outside, through its
// HTTP API (and, for the API's own answers, a recording middleware): every
// accepted job ends and succeeds, one job per idempotency key, no job runs
// twice without a recorded reason, every history is complete and ordered,
// the API answers only 2xx/4xx — or 503 with a retryable code — and no
// healthy builder is blamed. Fault scenarios (shared/faultfarm) and the soak
// (scripts/chaos) use the same checks; they hold whatever the farm's
// insides look like, so they keep working across refactors of the store
// and the scheduler.
package farmcheck

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Promise names, one per check.
const (
	PromiseAccepted   = "valid submissions are accepted"              // never a 409/500 to a valid submit
	PromiseNotLost    = "no accepted job is lost"                     // every accepted job exists
	PromiseTerminal   = "every accepted job ends"                     // terminal by the end
	PromiseSucceeded  = "every accepted job succeeds"                 // the workload's jobs all succeed
	PromiseOnePerKey  = "one job per idempotency key"                 // never a second job for a key
	PromiseRunOnce    = "no job runs twice without a recorded reason" // an expired lease is the reason
	PromiseClaimRuns  = "every claim is run by its builder"           // no claim sits without a builder until its lease ends
	PromiseHistory    = "history complete and ordered"                // creation first, transitions chained, last = status
	PromiseAnswers    = "the API answers 2xx/4xx or 503 unavailable"  // never a 500; 503s carry Retry-After
	PromiseCompletion = "a valid completion is accepted"              // a builder holding its claim is never told 409
	PromiseClaim      = "a claim with a free slot gets a job or 204"  // never a 409 "slots busy" to a builder with a free slot
	PromiseBuilders   = "no healthy builder is blamed"                // none lost, none with failures
	PromiseRecovers   = "the farm recovers by itself"                 // a job submitted after the faults runs
)

// Violation is one broken promise.
type Violation struct {
	Promise string
	// JobID, Key or Builder say what broke it, when known.
	JobID, Key, Builder string
	Detail              string
}

func (v Violation) String() string {
	var who []string
	if v.JobID != "" {
		who = append(who, "job "+v.JobID)
	}
	if v.Key != "" {
		who = append(who, "key "+v.Key)
	}
	if v.Builder != "" {
		who = append(who, "builder "+v.Builder)
	}
	s := v.Promise + ": "
	if len(who) > 0 {
		s += strings.Join(who, ", ") + ": "
	}
	return s + v.Detail
}

// Violations are a check's findings.
type Violations []Violation

// Of returns the violations of one promise.
func (vs Violations) Of(promise string) Violations {
	var out Violations
	for _, v := range vs {
		if v.Promise == promise {
			out = append(out, v)
		}
	}
	return out
}

// ByPromise counts violations per promise.
func (vs Violations) ByPromise() map[string]int {
	out := map[string]int{}
	for _, v := range vs {
		out[v.Promise]++
	}
	return out
}

// Write prints the violations grouped by promise, at most perPromise lines
// each (0: all).
func (vs Violations) Write(w io.Writer, perPromise int) {
	counts := vs.ByPromise()
	for _, p := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "  %s: %d\n", p, counts[p])
		n := 0
		for _, v := range vs.Of(p) {
			if perPromise > 0 && n == perPromise {
				fmt.Fprintf(w, "      ... %d more\n", counts[p]-n)
				break
			}
			fmt.Fprintf(w, "      %s\n", strings.TrimPrefix(v.String(), p+": "))
			n++
		}
	}
}
