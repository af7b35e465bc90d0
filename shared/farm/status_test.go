package farm

import (
	"fmt"
	"testing"
)

// TestTransitionTableCoversEveryPair spells out the whole state machine:
// every (from, to) pair of statuses, allowed or refused.
func TestTransitionTableCoversEveryPair(t *testing.T) {
	t.Parallel()
	const (
		W = StatusWaiting
		Q = StatusQueued
		R = StatusRunning
		C = StatusCancelling
		S = StatusSucceeded
		F = StatusFailed
		X = StatusCancelled
		T = StatusTimedOut
	)
	allowed := map[[2]JobStatus]bool{
		{W, Q}: true, {W, F}: true, {W, X}: true,
		{Q, R}: true, {Q, X}: true,
		{R, S}: true, {R, F}: true, {R, T}: true, {R, C}: true, {R, Q}: true,
		{C, X}: true, {C, S}: true, {C, F}: true, {C, T}: true,
		{F, Q}: true, {X, Q}: true, {T, Q}: true,
	}
	pairs := 0
	for _, from := range AllStatuses {
		for _, to := range AllStatuses {
			pairs++
			want := allowed[[2]JobStatus{from, to}]
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				if got := CanTransition(from, to); got != want {
					t.Fatalf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
				err := CheckTransition(from, to)
				if want != (err == nil) || (!want && !IsCode(err, EConflict)) {
					t.Fatalf("CheckTransition(%s, %s) = %v", from, to, err)
				}
			})
		}
	}
	if pairs != 64 {
		t.Fatalf("%d pairs checked, want all 64", pairs)
	}
	for _, s := range AllStatuses {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	if JobStatus("bogus").Valid() || CanTransition("bogus", Q) {
		t.Error("an unknown status is accepted")
	}
}

func TestStatusKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s                JobStatus
		terminal, active bool
	}{
		{StatusWaiting, false, false}, {StatusQueued, false, false},
		{StatusRunning, false, true}, {StatusCancelling, false, true},
		{StatusSucceeded, true, false}, {StatusFailed, true, false},
		{StatusCancelled, true, false}, {StatusTimedOut, true, false},
	} {
		if tc.s.Terminal() != tc.terminal || tc.s.Active() != tc.active {
			t.Errorf("%s: terminal %v active %v", tc.s, tc.s.Terminal(), tc.s.Active())
		}
	}
}
