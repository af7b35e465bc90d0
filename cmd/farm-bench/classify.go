package main

import (
	"context"
	"runtime"
	"strings"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

const modulePath = "github.com/buildfarm/buildfarm/"

// callers maps a function of the farm's background workers to the phase of
// the AWS calls made under it; the innermost match wins (the dispatcher runs
// under the stream poller, lease checks under an SQS poller).
var callers = []struct{ prefix, phase string }{
	{"shared/runtime/dispatch.", phaseDispatch},
	{"shared/runtime/reaperfn.", phaseReaper},
	{"shared/runtime/ingest.", phaseIngest},
	{"shared/runtime/localfarm.(*streamPoller)", phaseStream},
	{"shared/runtime/localfarm.(*sqsPoller)", phaseSQSPoller},
}

// phaseAuthRefresh marks the reads of the auth generation (app/authgen):
// time-based (at most one per API instance per 2 s, by its background
// refresher or by a request after a freeze), so background even when a
// request's goroutine makes them.
const phaseAuthRefresh = "auth_refresh"

// phaseSQSPoller marks an SQS poller's own receives and deletes; the queue
// they name tells lease timers from ingest (see farmPhases).
const phaseSQSPoller = "sqs_poller"

// classify names the phase of a call in the farm process: the label the
// API observer put on the request's context, or else the worker found on
// the calling goroutine's stack (the SDK runs middleware on the caller's
// goroutine).
func classify(ctx context.Context) string {
	if stackHas("shared/app/authgen.") {
		return phaseAuthRefresh
	}
	if p := awscalls.PhaseOf(ctx); p != "" {
		return p
	}
	return stackPhase(3)
}

func stackPhase(skip int) string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(skip, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if name, ok := strings.CutPrefix(f.Function, modulePath); ok {
			for _, c := range callers {
				if strings.HasPrefix(name, c.prefix) {
					return c.phase
				}
			}
		}
		if !more {
			return phaseOther
		}
	}
}

// stackHas reports whether a function of the repository under prefix is on
// the calling goroutine's stack.
func stackHas(prefix string) bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if name, ok := strings.CutPrefix(f.Function, modulePath); ok && strings.HasPrefix(name, prefix) {
			return true
		}
		if !more {
			return false
		}
	}
}
