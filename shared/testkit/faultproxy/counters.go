package faultproxy

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// Count is what the proxy saw and did for one service and operation.
type Count struct {
	// Requests is every request received; Retries those the SDK marked as a
	// retry of an earlier attempt (amz-sdk-request: attempt > 1).
	Requests int64 `json:"requests"`
	Retries  int64 `json:"retries"`
	// Forwarded reached the emulator (including lost answers).
	Forwarded int64 `json:"forwarded"`
	// Injected faults, by kind.
	Errors           int64 `json:"errors"`
	Throttles        int64 `json:"throttles"`
	LostAnswers      int64 `json:"lost_answers"`
	ErrorsAfterApply int64 `json:"errors_after_apply"`
	Delayed          int64 `json:"delayed"`
	// OutageErrors were answered 503 because an outage was on.
	OutageErrors int64 `json:"outage_errors"`
	// Upstream5xx are 5xx answers of the emulator itself, passed on.
	Upstream5xx int64 `json:"upstream_5xx"`
}

// Failed is how many requests the proxy made fail (latency does not fail).
func (c Count) Failed() int64 {
	return c.Errors + c.Throttles + c.LostAnswers + c.ErrorsAfterApply + c.OutageErrors
}

func (c *Count) add(o Count) {
	c.Requests += o.Requests
	c.Retries += o.Retries
	c.Forwarded += o.Forwarded
	c.Errors += o.Errors
	c.Throttles += o.Throttles
	c.LostAnswers += o.LostAnswers
	c.ErrorsAfterApply += o.ErrorsAfterApply
	c.Delayed += o.Delayed
	c.OutageErrors += o.OutageErrors
	c.Upstream5xx += o.Upstream5xx
}

// Counts is a snapshot of the counters by service and operation.
type Counts map[Key]Count

// Total sums every key.
func (cs Counts) Total() Count {
	var t Count
	for _, c := range cs {
		t.add(c)
	}
	return t
}

// Service sums the keys of one service.
func (cs Counts) Service(svc string) Count {
	var t Count
	for k, c := range cs {
		if k.Service == svc {
			t.add(c)
		}
	}
	return t
}

// Get returns the count of one operation.
func (cs Counts) Get(svc, op string) Count { return cs[Key{svc, op}] }

// Sub returns cs minus an earlier snapshot.
func (cs Counts) Sub(earlier Counts) Counts {
	out := Counts{}
	for k, c := range cs {
		e := earlier[k]
		out[k] = Count{
			Requests: c.Requests - e.Requests, Retries: c.Retries - e.Retries, Forwarded: c.Forwarded - e.Forwarded,
			Errors: c.Errors - e.Errors, Throttles: c.Throttles - e.Throttles, LostAnswers: c.LostAnswers - e.LostAnswers,
			ErrorsAfterApply: c.ErrorsAfterApply - e.ErrorsAfterApply, Delayed: c.Delayed - e.Delayed,
			OutageErrors: c.OutageErrors - e.OutageErrors, Upstream5xx: c.Upstream5xx - e.Upstream5xx,
		}
	}
	return out
}

// Write prints a table of the counters, one line per operation, sorted.
func (cs Counts) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "service\toperation\trequests\tretries\terror\tthrottle\tlost answer\terror after\tdelayed\toutage\tupstream 5xx\t")
	keys := slices.SortedFunc(maps.Keys(cs), func(a, b Key) int {
		if a.Service != b.Service {
			return cmpString(a.Service, b.Service)
		}
		return cmpString(a.Operation, b.Operation)
	})
	line := func(svc, op string, c Count) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", svc, op, c.Requests, c.Retries, c.Errors, c.Throttles,
			c.LostAnswers, c.ErrorsAfterApply, c.Delayed, c.OutageErrors, c.Upstream5xx)
	}
	for _, k := range keys {
		line(k.Service, k.Operation, cs[k])
	}
	line("all", "", cs.Total())
	return tw.Flush()
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
