package wiring

import (
	"io"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/buildfarm/buildfarm/shared/adapter/asgfleet"
	"github.com/buildfarm/buildfarm/shared/adapter/emf"
	"github.com/buildfarm/buildfarm/shared/app/scaler"
	"github.com/buildfarm/buildfarm/shared/runtime/dispatch"
	"github.com/buildfarm/buildfarm/shared/runtime/ingest"
	"github.com/buildfarm/buildfarm/shared/runtime/reaperfn"
	"github.com/buildfarm/buildfarm/shared/runtime/scalerfn"
)

// Dispatcher is the dispatch Lambda's handler: the jobs table's changes
// to the follow-up work.
func (f *Farm) Dispatcher() *dispatch.Dispatcher {
	return &dispatch.Dispatcher{Work: f.FollowUp, Logger: f.Logger.With("component", "dispatch")}
}

// Ingest is the ingest Lambda's handler: uploads under incoming/<type>/ to jobs.
func (f *Farm) Ingest() *ingest.Handler {
	return &ingest.Handler{Jobs: f.Jobs, IncomingPrefix: f.Config.Topology.Bucket.IncomingPrefix, Logger: f.Logger.With("component", "ingest")}
}

// ReaperFn is the reaper Lambda's handler: a pass on each scheduled
// invocation, then sweeps of the reap index while jobs run, with the queue
// metrics written to metrics (nil: none).
func (f *Farm) ReaperFn(metrics io.Writer) *reaperfn.Reaper {
	return &reaperfn.Reaper{Rules: f.Reaper, Metrics: metrics, Logger: f.Logger.With("component", "reaper"), Window: reaperfn.SweepWindow}
}

// ScalerFn is the scaler Lambda's handler: the elastic pools' ticks over
// their Auto Scaling groups, with the decisions' metrics written as the
// farm's metrics are (stdout in Lambda).
func (f *Farm) ScalerFn() *scalerfn.Handler {
	s := &scaler.Scaler{Fleet: f.Config.Fleet, Store: f.Store, Drainer: f.Builders, Groups: asgfleet.New(autoscaling.NewFromConfig(f.AWS)), Logger: f.Logger.With("component", "scaler")}
	if f.Config.Metrics != nil {
		s.Metrics = emf.Writer{W: f.Config.Metrics}
	}
	return &scalerfn.Handler{Scaler: s, Logger: s.Logger}
}
