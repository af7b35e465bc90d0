package farm

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	for attempts, want := range map[int]time.Duration{0: 5 * time.Second, 1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 9: time.Minute} {
		if got := Backoff(attempts, 5*time.Second, time.Minute); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}

func TestLogTailIsBoundedOnARuneBoundary(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxLogTail) // 2 bytes each
	j := &Job{ID: "j", Status: StatusRunning, ClaimToken: "t", LogTail: long}
	n, err := j.Renew("t", time.Now(), time.Minute, "end\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.LogTail) > MaxLogTail || !utf8.ValidString(n.LogTail) || !strings.HasSuffix(n.LogTail, "end\n") {
		t.Fatalf("tail of %d bytes, valid %v", len(n.LogTail), utf8.ValidString(n.LogTail))
	}
	if _, err := j.Renew("other", time.Now(), time.Minute, "", ""); !IsCode(err, EConflict) {
		t.Fatalf("renew with a foreign token: %v", err)
	}
}

func TestLeaseLostDecidesRequeueTimeoutOrFailure(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func(status JobStatus, attempts, failures int) *Job {
		return &Job{ID: "j", Status: status, Attempts: attempts, MaxAttempts: 3, BuilderFailures: failures, Builder: "b", ClaimToken: "t", LeaseExpiresAt: TimePtr(now.Add(-time.Second)), Version: 4}
	}
	for _, tc := range []struct {
		job  *Job
		want JobStatus
	}{
		{base(StatusRunning, 1, 0), StatusQueued},
		{base(StatusRunning, 3, 0), StatusTimedOut},
		{base(StatusRunning, 1, 2), StatusFailed}, // third builder lost
		{base(StatusCancelling, 1, 0), StatusCancelled},
	} {
		n, ev, err := tc.job.LeaseLost(now, 10*time.Second, 3)
		if err != nil || n.Status != tc.want || ev.From != tc.job.Status || ev.To != tc.want || n.Version != 5 || n.ClaimToken != "" {
			t.Errorf("%s attempts %d failures %d: -> %v, %v", tc.job.Status, tc.job.Attempts, tc.job.BuilderFailures, n, err)
		}
		if tc.want == StatusQueued && (n.NotBefore == nil || !n.NotBefore.Equal(now.Add(10*time.Second)) || n.Builder != "") {
			t.Errorf("requeued job %+v", n)
		}
	}
	live := base(StatusRunning, 1, 0)
	live.LeaseExpiresAt = TimePtr(now.Add(time.Second))
	if _, _, err := live.LeaseLost(now, 0, 3); !IsCode(err, EConflict) {
		t.Fatalf("a live lease was lost: %v", err)
	}
}

func TestDerivedIDsAreStableValidAndDistinct(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, b := DerivedID(at, "x/follow-on/0"), DerivedID(at, "x/follow-on/1")
	if a != DerivedID(at, "x/follow-on/0") || a == b || !ValidID(a) || !ValidID(b) {
		t.Fatalf("derived ids %s %s", a, b)
	}
	if NewID(at) == NewID(at) {
		t.Fatal("NewID repeated itself")
	}
}
