package farm

import (
	"strings"
	"testing"
	"time"
)

func TestRestartedNeedsTwoKnownDifferentBootIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stored, registering string
		want                bool
	}{
		{"a", "b", true},
		{"a", "a", false},
		{"", "b", false}, // first registration with a boot id, or an older agent before
		{"a", "", false}, // an admin's registration, or an older agent
		{"", "", false},
	} {
		b := &Builder{Name: "b1", BootID: tc.stored}
		if got := b.Restarted(tc.registering); got != tc.want {
			t.Errorf("stored %q, registering %q: Restarted = %v, want %v", tc.stored, tc.registering, got, tc.want)
		}
	}
	if (*Builder)(nil).Restarted("x") {
		t.Error("a builder never registered has not restarted")
	}
}

func TestBootIDIsChecked(t *testing.T) {
	t.Parallel()
	spec := func(boot string) BuilderSpec {
		return BuilderSpec{Kind: KindMetal, Arch: "amd64", Pools: []string{"default"}, BootID: boot}
	}
	for _, ok := range []string{"", "01J0ABCDEF", "host-1:1718000000.123_x"} {
		s := spec(ok)
		if err := s.Validate(); err != nil {
			t.Errorf("boot id %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{strings.Repeat("a", MaxBootID+1), "a b", "a/b", "é"} {
		s := spec(bad)
		if err := s.Validate(); !IsCode(err, EInvalid) || !strings.Contains(err.Error(), "boot_id") {
			t.Errorf("boot id %q: %v, want an invalid boot_id", bad, err)
		}
	}
}

func TestBuilderRestartedRequeuesAtOnceAndFencesTheOldClaim(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func(status JobStatus, attempts, failures int) *Job {
		// The lease has not expired: a restart does not wait for it.
		return &Job{ID: "J1", Status: status, Attempts: attempts, MaxAttempts: 3, BuilderFailures: failures, Builder: "b1", ClaimToken: "old",
			LeaseExpiresAt: TimePtr(now.Add(time.Minute)), Version: 4}
	}
	for _, tc := range []struct {
		job  *Job
		want JobStatus
	}{
		{base(StatusRunning, 1, 0), StatusQueued},
		{base(StatusRunning, 3, 0), StatusTimedOut}, // out of attempts
		{base(StatusRunning, 1, 2), StatusFailed},   // the third builder it lost
		{base(StatusCancelling, 1, 0), StatusCancelled},
	} {
		n, ev, err := tc.job.BuilderRestarted("b1", "boot-2", now, 3)
		if err != nil {
			t.Fatalf("%s: %v", tc.job.Status, err)
		}
		if n.Status != tc.want || ev.From != tc.job.Status || ev.To != tc.want || n.Version != 5 || ev.Seq != SeqFor(5) {
			t.Errorf("%s attempts %d failures %d: -> %s (event %+v)", tc.job.Status, tc.job.Attempts, tc.job.BuilderFailures, n.Status, ev)
		}
		if !strings.Contains(ev.Detail, "builder b1 restarted") || !strings.Contains(ev.Detail, "boot-2") || ev.Actor != "builder:b1" {
			t.Errorf("event does not name the reason: %+v", ev)
		}
		if n.ClaimToken != "" || n.LeaseExpiresAt != nil {
			t.Errorf("the old claim survives: token %q lease %v", n.ClaimToken, n.LeaseExpiresAt)
		}
		if n.CheckClaim("old") == nil {
			t.Error("the old boot's claim token is still valid")
		}
		if tc.want == StatusQueued && (n.NotBefore != nil || n.Builder != "" || n.BuilderFailures != 1 || !n.Claimable(now)) {
			t.Errorf("requeued job not claimable at once: %+v", n)
		}
	}
	for _, notHeld := range []*Job{
		{ID: "J2", Status: StatusRunning, Builder: "b2", ClaimToken: "t"},
		{ID: "J3", Status: StatusQueued},
		{ID: "J4", Status: StatusSucceeded, Builder: "b1"},
	} {
		if _, _, err := notHeld.BuilderRestarted("b1", "boot-2", now, 3); !IsCode(err, EConflict) {
			t.Errorf("job %s (%s on %q) taken from b1: %v", notHeld.ID, notHeld.Status, notHeld.Builder, err)
		}
	}
}

func TestBlameLostJobBlamesTheSideThatFailsMore(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Builder{Name: "b1", ConsecutiveFailures: 1}
	if b.BlameLostJob(&Job{ID: "J1", BuilderFailures: 3}, "restarted with", now, 3) || b.ConsecutiveFailures != 1 {
		t.Fatalf("a job that lost 3 builders blamed on b1: %+v", b)
	}
	if b.BlameLostJob(&Job{ID: "J2", BuilderFailures: 1}, "restarted with", now, 3) || b.ConsecutiveFailures != 2 || b.TotalFailures != 1 {
		t.Fatalf("first blame: %+v", b)
	}
	if !b.BlameLostJob(&Job{ID: "J3", BuilderFailures: 1}, "restarted with", now, 3) || !b.Disabled || !strings.Contains(b.DisabledReason, "restarted with job J3") {
		t.Fatalf("third consecutive failure did not disable: %+v", b)
	}
}
