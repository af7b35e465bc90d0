package farmcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Answer is one answer of the API.
type Answer struct {
	Method, Route string
	Status        int
	// Code and Message are an error answer's; RetryAfter its Retry-After.
	Code, Message, RetryAfter string
}

// Answers records every answer of an API handler (every caller: the
// workload, the agents, the checks themselves). Wrap the handler with Wrap.
type Answers struct {
	mu  sync.Mutex
	all []Answer
}

// Wrap returns h recording its answers here.
func (a *Answers) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		ans := Answer{Method: r.Method, Route: routeOf(r.URL.Path), Status: rec.status, RetryAfter: rec.Header().Get("Retry-After")}
		if ans.Status == 0 {
			ans.Status = http.StatusOK
		}
		if ans.Status >= 400 {
			var body apiv1.ErrorBody
			if json.Unmarshal(rec.body.Bytes(), &body) == nil {
				ans.Code, ans.Message = body.Error.Code, body.Error.Message
			}
		}
		a.mu.Lock()
		a.all = append(a.all, ans)
		a.mu.Unlock()
	})
}

// All returns the answers so far.
func (a *Answers) All() []Answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.all)
}

// answerRecorder keeps the status and the start of an error body.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *answerRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *answerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status >= 400 && r.body.Len() < 4096 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (r *answerRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ids are the variable segments of API paths: job ids (ULIDs) and the
// segment after /builders/, /resource-pools/ and /resources/.
var (
	jobID      = regexp.MustCompile(`/jobs/[0-9A-HJKMNP-TV-Z]{26}`)
	namedThing = regexp.MustCompile(`/(builders|resource-pools|resources|tokens)/[^/]+`)
)

// routeOf turns a path into its route ("/v1/jobs/{id}/complete").
func routeOf(path string) string {
	path = jobID.ReplaceAllString(path, "/jobs/{id}")
	return namedThing.ReplaceAllString(path, "/$1/{name}")
}

// Check checks every recorded answer: a 5xx other than a 503 with code
// unavailable and a Retry-After breaks the promise (a 500 shows an
// internal failure where a dependency's trouble should be a retryable
// 503). In a fault scenario the agents are healthy and never lose a lease,
// so a 409 to a completion (sent only by a builder holding its claim) or to
// a claim (sent only for a free slot) breaks a promise too.
func (a *Answers) Check() Violations {
	var out Violations
	for _, ans := range a.All() {
		switch {
		case ans.Status >= 500 && (ans.Status != http.StatusServiceUnavailable || ans.Code != farm.EUnavailable || ans.RetryAfter == ""):
			out = append(out, Violation{Promise: PromiseAnswers, Detail: fmt.Sprintf("%s %s answered %d %q (Retry-After %q)", ans.Method, ans.Route, ans.Status, ans.Code, ans.RetryAfter)})
		case ans.Status == http.StatusConflict && ans.Route == "/v1/jobs/{id}/complete":
			out = append(out, Violation{Promise: PromiseCompletion, Detail: fmt.Sprintf("%s %s answered 409 %s: %s", ans.Method, ans.Route, ans.Code, ans.Message)})
		case ans.Status == http.StatusConflict && ans.Route == "/v1/builders/{name}/claim":
			// The agent claims only for a free slot.
			out = append(out, Violation{Promise: PromiseClaim, Detail: fmt.Sprintf("%s %s answered 409 %s: %s", ans.Method, ans.Route, ans.Code, ans.Message)})
		}
	}
	return out
}

// Tally counts answers per route and status.
func (a *Answers) Tally() map[string]map[int]int {
	out := map[string]map[int]int{}
	for _, ans := range a.All() {
		k := ans.Method + " " + ans.Route
		if out[k] == nil {
			out[k] = map[int]int{}
		}
		out[k][ans.Status]++
	}
	return out
}

// Count returns how many answers had the status.
func (a *Answers) Count(status int) int {
	n := 0
	for _, ans := range a.All() {
		if ans.Status == status {
			n++
		}
	}
	return n
}

// WriteRefusals prints each distinct error answer (route, status, code,
// message) with how often it was given.
func (a *Answers) WriteRefusals(w io.Writer) {
	type refusal struct {
		route   string
		status  int
		code    string
		message string
	}
	counts := map[refusal]int{}
	for _, ans := range a.All() {
		if ans.Status >= 400 {
			counts[refusal{ans.Method + " " + ans.Route, ans.Status, ans.Code, ans.Message}]++
		}
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(x, y refusal) int {
		if x.route != y.route {
			return strings.Compare(x.route, y.route)
		}
		if x.status != y.status {
			return x.status - y.status
		}
		return strings.Compare(x.message, y.message)
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %d × %s %d %s: %s\n", counts[k], k.route, k.status, k.code, k.message)
	}
}

// Write prints the tally as a table.
func (a *Answers) Write(w io.Writer) error {
	tally := a.Tally()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "route\tanswers")
	for _, route := range slices.Sorted(maps.Keys(tally)) {
		line := ""
		for _, st := range slices.Sorted(maps.Keys(tally[route])) {
			line += fmt.Sprintf(" %d×%d", tally[route][st], st)
		}
		fmt.Fprintf(tw, "%s\t%s\n", route, line)
	}
	return tw.Flush()
}
