package farm

import (
	"fmt"
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
	if first, second := NewID(at), NewID(at); first == second {
		t.Fatal("NewID repeated itself")
	}
}

// A job keeps the artifacts of every run, the newest MaxKeptArtifacts of
// them; a run's own completion replaces only that run's list.
func TestArtifactsAreKeptPerRun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	j := &Job{ID: NewID(now), Type: TypeScript, Status: StatusQueued, MaxAttempts: 3, CreatedAt: now, Version: 1}
	run := func(names ...string) {
		t.Helper()
		claimed, _, err := j.Claim("b1", "tok", now.Add(2*time.Second), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if claimed.TimeToStartSeconds == nil || *claimed.TimeToStartSeconds != 2 {
			t.Fatalf("time to start %v", claimed.TimeToStartSeconds)
		}
		var arts []Artifact
		for _, n := range names {
			arts = append(arts, Artifact{Name: n, Key: n})
		}
		done, _, err := claimed.Complete("b1", Completion{ClaimToken: "tok", Result: StatusFailed, Artifacts: arts}, now.Add(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if j, _, err = done.Retry("admin", now.Add(4*time.Second)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(4 * time.Second)
	}
	run("a", "b")
	run("a")
	if len(j.Artifacts) != 3 || j.Run != 2 || j.Attempts != 0 {
		t.Fatalf("after two runs: run %d attempts %d artifacts %+v", j.Run, j.Attempts, j.Artifacts)
	}
	if a, ok := j.LatestArtifact("a", 0); !ok || a.Attempt != 2 {
		t.Fatalf("latest a: %+v", a)
	}
	if a, ok := j.LatestArtifact("b", 0); !ok || a.Attempt != 1 {
		t.Fatalf("latest b: %+v", a)
	}
	if _, ok := j.LatestArtifact("b", 2); ok {
		t.Fatal("b of run 2 found")
	}
	many := make([]string, artifactsPerCompletion)
	for i := range many {
		many[i] = fmt.Sprintf("f%03d", i)
	}
	run(many...)
	run(many...)
	if len(j.Artifacts) != MaxKeptArtifacts || j.Artifacts[len(j.Artifacts)-1].Attempt != 4 || j.Artifacts[0].Attempt != 3 {
		t.Fatalf("%d artifacts kept, from run %d to %d", len(j.Artifacts), j.Artifacts[0].Attempt, j.Artifacts[len(j.Artifacts)-1].Attempt)
	}
}

// artifactsPerCompletion is the API's limit of artifacts per completion.
const artifactsPerCompletion = 100
