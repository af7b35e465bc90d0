package store

import "github.com/buildfarm/buildfarm/shared/farm"

// History returns what a job write stores as the job's history: the
// history Next carries, with the write's Event appended unless it is
// already there (Commit also records it on Next itself, so that a job kept
// in memory after its write goes on with its whole history). The state and its event are one item write: no crash or
// lost answer can leave them apart.
func (w JobWrite) History() []farm.JobEvent {
	return w.Next.Clone().Record(w.Event).History
}

// IsOwnWrite reports whether cur, the job as stored when w's condition
// failed, already holds w itself: a write whose answer was lost (a timeout,
// a dropped connection) and that the SDK sent again finds its own first
// attempt there. Such a retry succeeded; calling it a lost race would
// answer 409 to a submission whose job exists, or make a builder drop a
// claim or a result that the farm recorded.
//
// A write is recognised by its history event: cur has reached the write's
// version and holds, at the event's sequence, the same event (time to the
// millisecond, transition, actor, detail). A claim is also recognised by
// its token while the job is still in that run: two claims by one builder
// in one millisecond differ only there. A write without an event (a lease
// renewal) is never recognised: its caller re-reads and renews again.
func IsOwnWrite(cur *farm.Job, w JobWrite) bool {
	if cur == nil || w.Next == nil || cur.ID != w.Next.ID || cur.Version < w.Next.Version {
		return false
	}
	ev := w.Event
	if ev == nil {
		if n := len(w.Next.History); n > 0 && w.Next.History[n-1].Seq == farm.SeqFor(w.Next.Version) {
			ev = &w.Next.History[n-1]
		}
	}
	if ev == nil {
		return false
	}
	if w.Next.ClaimToken != "" && cur.Run == w.Next.Run && cur.Status.Active() && cur.ClaimToken != w.Next.ClaimToken {
		return false
	}
	for _, e := range cur.History {
		if e.Seq == ev.Seq {
			return e.At.Equal(ev.At) && e.From == ev.From && e.To == ev.To && e.Actor == ev.Actor && e.Detail == ev.Detail
		}
	}
	return false
}

// IsOwnCompletion reports whether cur, the job as stored when completion
// patch p's condition failed, already holds p itself (IsOwnWrite of the
// write p stands for).
func IsOwnCompletion(cur *farm.Job, p *farm.CompletionPatch) bool {
	next := &farm.Job{ID: p.ID, Version: p.Version, Run: p.Presumed.Run, ClaimToken: p.Presumed.ClaimToken}
	return IsOwnWrite(cur, JobWrite{Next: next, Event: &p.Event})
}
