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
	"sync"
	"text/tabwriter"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Answer is one answer of the API.
type Answer struct {
	Method, Route string
	Status        int
	// Code is the error code of an error answer; RetryAfter its Retry-After.
	Code, RetryAfter string
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
				ans.Code = body.Error.Code
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
// 503); so does a 409 to a completion, which only a builder holding its
// claim sends in a fault scenario.
func (a *Answers) Check() Violations {
	var out Violations
	for _, ans := range a.All() {
		switch {
		case ans.Status >= 500 && (ans.Status != http.StatusServiceUnavailable || ans.Code != farm.EUnavailable || ans.RetryAfter == ""):
			out = append(out, Violation{Promise: PromiseAnswers, Detail: fmt.Sprintf("%s %s answered %d %q (Retry-After %q)", ans.Method, ans.Route, ans.Status, ans.Code, ans.RetryAfter)})
		case ans.Status == http.StatusConflict && ans.Route == "/v1/jobs/{id}/complete":
			out = append(out, Violation{Promise: PromiseCompletion, Detail: fmt.Sprintf("%s %s answered 409 %s", ans.Method, ans.Route, ans.Code)})
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
