package dynamostore

import (
	"github.com/buildfarm/buildfarm/shared/adapter/eventpattern"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// The event source mappings' filters on the jobs table's stream, defined
// once as data: the CDK stack renders them into the mappings'
// FilterCriteria (infra/stack), the local runtime's stream poller runs them
// over what it reads (runtime/localfarm), and infra/stack's tests run
// representative records through the synthesised JSON. They match the
// record's real shape: dynamodb.NewImage.<attr>.<type tag>. (A DynamoDB
// mapping filters on the dynamodb key only; removals have no NewImage and
// match nothing here.)

// Job item attributes the filters name (besides attrStatus).
const (
	attrType             = "type"
	attrHasDependents    = "has_dependents"
	attrFollowOns        = "follow_ons"
	attrFollowOnsCreated = "follow_ons_created"
	attrJustEnded        = "just_ended"
)

// endsJob reports whether the write from prev (nil: an insert) to next
// ends the job: the write whose item carries just_ended. Every write of a
// job's item replaces it whole or names what it sets, so a later write of
// the ended job (its follow-ons marked created, say) drops the mark.
func endsJob(prev, next *farm.Job) bool {
	return next != nil && next.Status.Terminal() && (prev == nil || !prev.Status.Terminal())
}

var terminalStatuses = func() []any {
	var out []any
	for _, s := range farm.AllStatuses {
		if s.Terminal() {
			out = append(out, string(s))
		}
	}
	return out
}()

func newImage(p eventpattern.Pattern) eventpattern.Pattern {
	return eventpattern.Pattern{"dynamodb": eventpattern.Pattern{"NewImage": p}}
}

func typedS(rules []any) eventpattern.Pattern    { return eventpattern.Pattern{"S": rules} }
func typedBOOL(rules []any) eventpattern.Pattern { return eventpattern.Pattern{"BOOL": rules} }

// DispatchFilter passes the records the dispatcher has business with, and
// nothing else (not submissions, claims, heartbeats, log appends, nor the
// end of a job nothing follows — most jobs never invoke it). The stream
// carries new images only (half of what old and new images cost every
// reader of the stream, and an emulator most of its reads), so what a
// record changed is told by the item itself:
//
//   - a job that just ended (the write that ended it marks the item
//     just_ended, endsJob) and has jobs waiting on it: they are released
//     or failed;
//   - a job that succeeded, declares follow-on jobs and has not created
//     them yet;
//   - every change of a clean-resource job: the resource it cleans follows
//     the job's state (rare; a change of no state, a heartbeat, finds the
//     resource as the job's state has it and writes nothing).
//
// Queued jobs are not in it: whoever writes a job queued rings its pool
// (the API at submit, requeue and retry; the follow-up work at release and
// follow-on creation), and the reaper's stale-queue sweep rings for a job
// whose writer died before ringing.
var DispatchFilter = eventpattern.Filter{
	newImage(eventpattern.Pattern{
		attrStatus:        typedS(eventpattern.Equal(terminalStatuses...)),
		attrHasDependents: typedBOOL(eventpattern.Equal(true)),
		attrJustEnded:     typedBOOL(eventpattern.Equal(true)),
	}),
	newImage(eventpattern.Pattern{
		attrStatus:           typedS(eventpattern.Equal(string(farm.StatusSucceeded))),
		attrFollowOns:        typedBOOL(eventpattern.Equal(true)),
		attrFollowOnsCreated: typedBOOL(eventpattern.Exists(false)),
	}),
	newImage(eventpattern.Pattern{attrType: typedS(eventpattern.Equal(farm.TypeCleanResource))}),
}

// QueuedJobsFilter passes only records of jobs that are queued
// (submissions, releases of waiting jobs, hand-backs and requeues), never
// heartbeats: the scaler's bursts.
var QueuedJobsFilter = eventpattern.Filter{
	newImage(eventpattern.Pattern{attrStatus: typedS(eventpattern.Equal(string(farm.StatusQueued)))}),
}
