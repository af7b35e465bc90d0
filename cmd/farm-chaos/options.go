package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/testkit/faultproxy"
)

// options are farm-chaos's flags.
type options struct {
	builderBin, emulatorURL, specFile, logs string

	jobs, builders, slots, concurrency int
	every, sleep, heartbeat, lease     time.Duration
	timeout                            time.Duration

	seed                               int64
	throttle, errorRate, lost, latency float64
	latencyMax                         time.Duration
	outage, outageAt                   time.Duration
	outageMode, outageServices         string
}

// Limits that keep a soak bounded on a shared machine.
const (
	maxJobs     = 5000
	maxBuilders = 16
	maxTimeout  = 2 * time.Hour
)

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("farm-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.builderBin, "builder-bin", "", "a built cmd/farm-builder (required; scripts/chaos builds it)")
	fs.StringVar(&o.emulatorURL, "emulator", "", "a running emulator's URL (default: start moto_server on a free loopback port)")
	fs.StringVar(&o.specFile, "spec", "", "a faultproxy spec (JSON file, or JSON text) replacing the rate flags")
	fs.StringVar(&o.logs, "logs", "", "write the farm's warnings and the agents' logs to this file at the end")
	fs.IntVar(&o.jobs, "jobs", 150, "jobs to submit")
	fs.IntVar(&o.builders, "builders", 2, "farm-builder agents")
	fs.IntVar(&o.slots, "slots", 2, "slots per agent")
	fs.IntVar(&o.concurrency, "concurrency", 4, "concurrent submitters")
	fs.DurationVar(&o.every, "every", 200*time.Millisecond, "time between submissions")
	fs.DurationVar(&o.sleep, "sleep", 500*time.Millisecond, "how long each job runs")
	fs.DurationVar(&o.heartbeat, "heartbeat", 2*time.Second, "builder heartbeat interval")
	fs.DurationVar(&o.lease, "lease", 30*time.Second, "claim lease (keep it longer than the outage, or healthy builders lose their leases)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "the run stops by itself after this (checks get 3 more minutes)")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the faults' draws")
	fs.Float64Var(&o.throttle, "throttle", 0.05, "rate of throttling errors on every AWS call")
	fs.Float64Var(&o.errorRate, "errors", 0.05, "rate of 500s on every AWS call (never applied)")
	fs.Float64Var(&o.lost, "lost", 0.03, "rate of DynamoDB writes applied whose answer is lost")
	fs.Float64Var(&o.latency, "latency", 0.02, "rate of latency spikes on every AWS call")
	fs.DurationVar(&o.latencyMax, "latency-max", time.Second, "longest latency spike (the shortest is a tenth of it)")
	fs.DurationVar(&o.outage, "outage", 20*time.Second, "length of the outage (0: none)")
	fs.DurationVar(&o.outageAt, "outage-at", 15*time.Second, "when the outage starts, after the first submission")
	fs.StringVar(&o.outageMode, "outage-mode", "errors", "errors (every call answered 503) or refuse (connections refused)")
	fs.StringVar(&o.outageServices, "outage-services", "", "comma-separated services down (dynamodb, sqs, s3, streams; default all)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	switch {
	case o.builderBin == "":
		return nil, errors.New("-builder-bin is required (scripts/chaos builds cmd/farm-builder)")
	case o.jobs < 1 || o.jobs > maxJobs:
		return nil, fmt.Errorf("-jobs must be from 1 to %d", maxJobs)
	case o.builders < 1 || o.builders > maxBuilders:
		return nil, fmt.Errorf("-builders must be from 1 to %d", maxBuilders)
	case o.slots < 1 || o.concurrency < 1:
		return nil, errors.New("-slots and -concurrency must be positive")
	case o.timeout <= 0 || o.timeout > maxTimeout:
		return nil, fmt.Errorf("-timeout must be positive and at most %v", maxTimeout)
	case o.heartbeat <= 0 || o.lease < 2*o.heartbeat:
		return nil, errors.New("-heartbeat must be positive and -lease at least twice it")
	case o.every < 0 || o.sleep < 0 || o.outage < 0 || o.outageAt < 0:
		return nil, errors.New("durations must not be negative")
	}
	if o.emulatorURL != "" && !strings.HasPrefix(o.emulatorURL, "http://127.0.0.1:") && !strings.HasPrefix(o.emulatorURL, "http://localhost:") {
		return nil, fmt.Errorf("-emulator %q: only a loopback emulator (http://127.0.0.1:PORT)", o.emulatorURL)
	}
	if _, err := os.Stat(o.builderBin); err != nil {
		return nil, fmt.Errorf("-builder-bin: %w", err)
	}
	if _, err := o.spec(); err != nil {
		return nil, err
	}
	return o, nil
}

// writeOps are the DynamoDB operations whose answers -lost loses.
var writeOps = []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

// spec is the fault script: -spec, or the rate and outage flags.
func (o *options) spec() (faultproxy.Spec, error) {
	if o.specFile != "" {
		return faultproxy.LoadSpec(o.specFile)
	}
	s := faultproxy.Spec{Seed: o.seed, Rules: []faultproxy.Rule{
		{Fault: faultproxy.FaultThrottle, Rate: o.throttle},
		{Fault: faultproxy.FaultError, Rate: o.errorRate},
	}}
	if o.latency > 0 {
		s.Rules = append(s.Rules, faultproxy.Rule{Fault: faultproxy.FaultLatency, Rate: o.latency, Delay: faultproxy.Duration(o.latencyMax / 10), DelayMax: faultproxy.Duration(o.latencyMax)})
	}
	for _, op := range writeOps {
		s.Rules = append(s.Rules, faultproxy.Rule{Service: faultproxy.ServiceDynamoDB, Operation: op, Fault: faultproxy.FaultLoseAnswer, Rate: o.lost})
	}
	if o.outage > 0 {
		w := faultproxy.Outage{After: faultproxy.Duration(o.outageAt), Duration: faultproxy.Duration(o.outage), Mode: faultproxy.OutageMode(o.outageMode)}
		if o.outageServices != "" {
			w.Services = strings.Split(o.outageServices, ",")
		}
		s.Outages = append(s.Outages, w)
	}
	if err := s.Validate(); err != nil {
		return faultproxy.Spec{}, fmt.Errorf("faults: %w", err)
	}
	return s, nil
}
