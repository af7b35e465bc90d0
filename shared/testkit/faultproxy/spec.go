package faultproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Fault is what a rule does to a request it picks.
type Fault string

const (
	// FaultError answers a 500 in the service's shape; the request never
	// reaches the emulator.
	FaultError Fault = "error"
	// FaultThrottle answers the service's throttling error (DynamoDB
	// ProvisionedThroughputExceededException, SQS RequestThrottled, S3
	// SlowDown...); the request never reaches the emulator.
	FaultThrottle Fault = "throttle"
	// FaultLatency holds the request back for Delay (up to DelayMax) before
	// forwarding it.
	FaultLatency Fault = "latency"
	// FaultLoseAnswer forwards the request (the emulator applies it), then
	// closes the connection without answering.
	FaultLoseAnswer Fault = "lose_answer"
	// FaultErrorAfterApply forwards the request (the emulator applies it),
	// then answers a 500 instead of the emulator's answer.
	FaultErrorAfterApply Fault = "error_after_apply"
)

var faults = []Fault{FaultError, FaultThrottle, FaultLatency, FaultLoseAnswer, FaultErrorAfterApply}

// Rule picks requests of a service and operation at a rate and does Fault
// to them. Empty Service or Operation (or "*") match any. Rules are tried in
// order: latencies add up; the first other fault that picks a request is
// the one it gets.
type Rule struct {
	Service   string  `json:"service,omitempty"`
	Operation string  `json:"operation,omitempty"`
	Fault     Fault   `json:"fault"`
	Rate      float64 `json:"rate"`
	// Delay and DelayMax bound a latency: Delay, or a draw in [Delay, DelayMax].
	Delay    Duration `json:"delay,omitempty"`
	DelayMax Duration `json:"delay_max,omitempty"`
	// Times caps how many requests the rule picks (0: no cap).
	Times int `json:"times,omitempty"`
	// Code replaces the default code of a throttle (e.g. ThrottlingException).
	Code string `json:"code,omitempty"`
	// BodyContains narrows the rule to requests whose body holds every one
	// of these strings (e.g. a table's name and `"status":{"S":"running"}`
	// to pick a job's claim write among DynamoDB PutItems). Bodies over
	// MaxMatchedBody never match.
	BodyContains []string `json:"body_contains,omitempty"`
	// BodyLacks narrows it further to bodies holding none of these strings.
	BodyLacks []string `json:"body_lacks,omitempty"`
}

// MaxMatchedBody is the largest request body BodyContains looks into.
const MaxMatchedBody = 1 << 20

func (r Rule) matchesKey(k Key) bool {
	return (r.Service == "" || r.Service == "*" || r.Service == k.Service) &&
		(r.Operation == "" || r.Operation == "*" || r.Operation == k.Operation)
}

func (r Rule) matches(k Key, body []byte) bool {
	if !r.matchesKey(k) {
		return false
	}
	for _, s := range r.BodyContains {
		if body == nil || !bytes.Contains(body, []byte(s)) {
			return false
		}
	}
	for _, s := range r.BodyLacks {
		if body == nil || bytes.Contains(body, []byte(s)) {
			return false
		}
	}
	return true
}

// OutageMode is how a down service fails.
type OutageMode string

const (
	// OutageErrors answers every call of the services with a 503 in their
	// shape (ServiceUnavailable); nothing reaches the emulator.
	OutageErrors OutageMode = "errors"
	// OutageRefuse closes the proxy's listener: every service's connections
	// are refused until the outage ends. Open connections are closed once
	// their request in flight is answered (an outage loses no answer;
	// FaultLoseAnswer does that).
	OutageRefuse OutageMode = "refuse"
)

// Outage makes services fail for Duration, starting After the spec is
// applied (or at once through Proxy.StartOutage).
type Outage struct {
	After    Duration   `json:"after,omitempty"`
	Duration Duration   `json:"duration"`
	Mode     OutageMode `json:"mode,omitempty"`
	// Services limits an errors outage to these services (empty: all).
	Services []string `json:"services,omitempty"`
}

// Spec is a scripted set of faults. The same seed gives the n-th call of an
// operation the same fate in every run (given the same calls in the same
// order per operation).
type Spec struct {
	Seed    int64    `json:"seed"`
	Rules   []Rule   `json:"rules,omitempty"`
	Outages []Outage `json:"outages,omitempty"`
}

// Validate reports the first thing wrong with a spec.
func (s Spec) Validate() error {
	for i, r := range s.Rules {
		known := false
		for _, f := range faults {
			known = known || r.Fault == f
		}
		switch {
		case !known:
			return fmt.Errorf("rules[%d]: unknown fault %q (want one of %v)", i, r.Fault, faults)
		case r.Rate < 0 || r.Rate > 1:
			return fmt.Errorf("rules[%d]: rate %v is not within [0, 1]", i, r.Rate)
		case r.Fault == FaultLatency && r.Delay <= 0:
			return fmt.Errorf("rules[%d]: a latency needs a positive delay", i)
		case r.DelayMax != 0 && r.DelayMax < r.Delay:
			return fmt.Errorf("rules[%d]: delay_max %v is below delay %v", i, r.DelayMax, r.Delay)
		case r.Times < 0:
			return fmt.Errorf("rules[%d]: times must not be negative", i)
		}
	}
	for i, o := range s.Outages {
		switch {
		case o.Duration <= 0:
			return fmt.Errorf("outages[%d]: a positive duration is needed", i)
		case o.After < 0:
			return fmt.Errorf("outages[%d]: after must not be negative", i)
		case o.Mode != "" && o.Mode != OutageErrors && o.Mode != OutageRefuse:
			return fmt.Errorf("outages[%d]: unknown mode %q (errors or refuse)", i, o.Mode)
		case o.Mode == OutageRefuse && len(o.Services) > 0:
			return fmt.Errorf("outages[%d]: a refuse outage stops every service; drop services", i)
		}
	}
	return nil
}

// ParseSpec reads a spec from JSON (unknown fields are an error).
func ParseSpec(b []byte) (Spec, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("faultproxy: spec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("faultproxy: spec: %w", err)
	}
	return s, nil
}

// LoadSpec reads a spec from a JSON file, or from the text itself when it
// starts with "{".
func LoadSpec(fileOrJSON string) (Spec, error) {
	b := []byte(fileOrJSON)
	if !strings.HasPrefix(strings.TrimSpace(fileOrJSON), "{") {
		var err error
		if b, err = os.ReadFile(fileOrJSON); err != nil {
			return Spec{}, fmt.Errorf("faultproxy: spec: %w", err)
		}
	}
	return ParseSpec(b)
}

// Duration is a time.Duration written as "1.5s" in JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"1.5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
