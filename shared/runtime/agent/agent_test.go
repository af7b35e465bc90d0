package agent_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestClaimRunUploadComplete(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	h := start(t, f, b, testConfig(t, "default"))
	f.waitFor("registration", func() bool { return f.registrations == 1 })

	job := f.script("default", `echo "hello from $FARM_JOB_ID"; mkdir -p "$FARM_ARTIFACTS_DIR/debs"; echo deb > "$FARM_ARTIFACTS_DIR/debs/hello.deb"; echo txt > "$FARM_ARTIFACTS_DIR/notes.txt"`, nil)
	receipt := b.ring(f, "default", job.ID)
	c := f.awaitCompletion(job.ID)
	if !c.Accepted || c.Req.Result != "succeeded" || c.Req.ExitCode == nil || *c.Req.ExitCode != 0 || c.Req.Error != "" {
		t.Fatalf("completion %+v", c)
	}
	// Each artifact carries the SHA-256 of what was uploaded.
	want := []apiv1.ArtifactRef{
		{Name: "debs/hello.deb", SHA256: sha256Hex("deb\n"), Size: 4},
		{Name: "notes.txt", SHA256: sha256Hex("txt\n"), Size: 4},
	}
	if !slices.Equal(c.Req.Artifacts, want) {
		t.Fatalf("artifacts named in complete: %+v, want %+v", c.Req.Artifacts, want)
	}
	f.locked(func() {
		if string(f.uploads["artifacts/"+job.ID+"/debs/hello.deb"]) != "deb\n" || string(f.uploads["artifacts/"+job.ID+"/notes.txt"]) != "txt\n" {
			t.Errorf("uploaded artifacts %v", keys(f.uploads))
		}
		// A small log travels whole in the completion: no log upload.
		full := c.Req.Log
		if !c.Req.LogComplete || c.Req.LogUploaded || !strings.Contains(full, "hello from "+job.ID+"\n") || !strings.Contains(full, "uploading artifact notes.txt") {
			t.Errorf("the completion's log (complete %v):\n%s", c.Req.LogComplete, full)
		}
		if n := f.puts["logs/"+job.ID+"/1.log"]; n != 0 {
			t.Errorf("a small log was uploaded %d times", n)
		}
		// The completion presumes the job as the farm last showed it: its
		// run, and its version from the claim or a later renewal.
		if fj := f.jobs[job.ID]; c.Req.Run != 1 || c.Req.Version < fj.claimed || c.Req.Version > fj.version {
			t.Errorf("the completion presumes run %d version %d; claimed at %d, now %d", c.Req.Run, c.Req.Version, fj.claimed, fj.version)
		}
		// The log reached the farm through heartbeats and the completion.
		if got := f.jobs[job.ID].log.String(); !strings.Contains(got, "hello from "+job.ID) {
			t.Errorf("log at the farm:\n%s", got)
		}
	})
	if !b.wasDeleted(receipt) {
		t.Error("the doorbell that brought the job was not deleted")
	}
	if err := h.drain(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	// The workspace and the job's log file are gone.
	if left, _ := os.ReadDir(h.cfg.WorkDir); len(left) != 0 {
		t.Errorf("work dir not cleaned: %v", left)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func artifactNames(refs []apiv1.ArtifactRef) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	return strings.Join(names, ",")
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFailedJobReportsExitCode(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	job := f.script("default", `echo broken >&2; exit 3`, nil)
	b.ring(f, "default", job.ID)
	c := f.awaitCompletion(job.ID)
	if c.Req.Result != "failed" || c.Req.ExitCode == nil || *c.Req.ExitCode != 3 || c.Req.Error != "exit status 3" {
		t.Fatalf("completion %+v", c.Req)
	}
}

// concurrency wraps an executor and records the most jobs it ran at once.
type concurrency struct {
	inner         agent.Executor
	mu            sync.Mutex
	now, most, of int
}

func (c *concurrency) Execute(ctx context.Context, t *executor.Task) executor.Outcome {
	c.mu.Lock()
	c.now++
	c.of++
	c.most = max(c.most, c.now)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	return c.inner.Execute(ctx, t)
}

func TestSlotsBoundConcurrencyAndBacklogDrainsWithoutDoorbells(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default", "arm64")
	b := newFakeBells(f)
	cfg := testConfig(t, "default", "arm64")
	cfg.Spec.Slots = 2
	counter := &concurrency{inner: cfg.Executors}
	cfg.Executors = counter
	// A backlog queued before the builder came up, with no doorbells at all.
	var jobs []*farm.Job
	for i := range 7 {
		pool := []string{"default", "arm64"}[i%2]
		jobs = append(jobs, f.script(pool, `sleep 0.2`, nil))
	}
	h := start(t, f, b, cfg)
	// And a few doorbells for jobs that do not exist: they must not break the bound.
	for range 3 {
		b.ring(f, "default", "01NOSUCHJOB")
	}
	for _, j := range jobs {
		if c := f.awaitCompletion(j.ID); c.Req.Result != "succeeded" {
			t.Fatalf("job %s: %+v", j.ID, c.Req)
		}
	}
	if err := h.drain(); err != nil {
		t.Fatal(err)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.most > 2 || counter.of != 7 {
		t.Fatalf("ran %d jobs, at most %d at once; want 7 with at most 2 (the slots)", counter.of, counter.most)
	}
}

func TestCancelDirectiveKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	job := f.script("default", `sh -c 'sleep 1000 & echo $! > "$PIDFILE"; wait'`, map[string]string{"PIDFILE": pidFile})
	b.ring(f, "default", job.ID)
	pid := waitForFile(t, pidFile)
	f.cancel(job.ID, "cancelled by alice")
	c := f.awaitCompletion(job.ID)
	if !c.Accepted || c.Req.Result != "cancelled" || !strings.Contains(c.Req.Error, "cancelled by alice") {
		t.Fatalf("completion %+v", c)
	}
	waitGone(t, pid)
}

func TestTimeoutKillsAndReportsFailed(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	job := f.push("default", farm.TypeScript, farm.ScriptArgs{Script: `sleep 1000 & echo $! > "$PIDFILE"; wait`, Env: map[string]string{"PIDFILE": pidFile}}, 1)
	b.ring(f, "default", job.ID)
	pid := waitForFile(t, pidFile)
	c := f.awaitCompletion(job.ID)
	if c.Req.Result != "failed" || !strings.Contains(c.Req.Error, "timeout") || c.Req.ExitCode != nil {
		t.Fatalf("completion %+v", c.Req)
	}
	waitGone(t, pid)
}

func TestHeartbeatConflictFencesTheJob(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	h := start(t, f, b, testConfig(t, "default"))
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	// Succeeds quickly once stopped... if the builder wrongly completes it.
	job := f.script("default", `trap 'exit 0' TERM; sleep 1000 & echo $! > "$PIDFILE"; wait`, map[string]string{"PIDFILE": pidFile})
	other := f.script("default", `true`, nil)
	b.ring(f, "default", job.ID)
	pid := waitForFile(t, pidFile)
	// The builder was partitioned; the farm gave the job to someone else.
	f.stealClaim(job.ID)
	f.waitFor("a heartbeat conflict", func() bool { return f.conflicts > 0 })
	waitGone(t, pid)
	// The freed slot serves the queue again.
	if c := f.awaitCompletion(other.ID); c.Req.Result != "succeeded" {
		t.Fatalf("next job: %+v", c.Req)
	}
	if err := h.drain(); err != nil {
		t.Fatal(err)
	}
	f.locked(func() {
		for _, c := range f.completions {
			if c.JobID == job.ID {
				t.Errorf("a fenced job was completed: %+v", c)
			}
		}
		if f.jobs[job.ID].done {
			t.Error("the stolen job's state was changed by the old builder")
		}
	})
}

func TestDrainFinishesRunningJobsAndClaimsNoMore(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	h := start(t, f, b, testConfig(t, "default"))
	dir := t.TempDir()
	started, proceed := filepath.Join(dir, "started"), filepath.Join(dir, "proceed")
	running := f.script("default", `echo yes > "$STARTED"; while [ ! -f "$PROCEED" ]; do sleep 0.05; done; echo finished`, map[string]string{"STARTED": started, "PROCEED": proceed})
	b.ring(f, "default", running.ID)
	waitForFile(t, started)

	h.agent.Drain()
	f.waitFor("a draining heartbeat", func() bool {
		for _, hb := range f.heartbeats {
			if hb.Draining {
				return true
			}
		}
		return false
	})
	later := f.script("default", `true`, nil)
	receipt := b.ring(f, "default", later.ID)
	os.WriteFile(proceed, nil, 0o644)
	if err := h.wait(); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	f.locked(func() {
		if fj := f.jobs[running.ID]; !fj.done || fj.lastResult != "succeeded" {
			t.Errorf("running job not completed: done=%v result=%q", fj.done, fj.lastResult)
		}
		if _, claimed := f.jobs[later.ID]; claimed {
			t.Error("a draining builder claimed a new job")
		}
	})
	if b.wasDeleted(receipt) {
		t.Error("a draining builder consumed a doorbell")
	}
}

func TestHardStopKillsJobsAndDoesNotComplete(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	// A long grace: only the hard stop's immediate SIGKILL ends the job in time.
	cfg.Executors = executor.NewSet(nil, executor.Options{KillGrace: time.Hour, BaseEnv: testEnv, Isolation: &executor.Isolation{}})
	h := start(t, f, b, cfg)
	pidFile := filepath.Join(t.TempDir(), "pid")
	job := f.script("default", `trap '' TERM; sleep 1000 & echo $! > "$PIDFILE"; wait; wait`, map[string]string{"PIDFILE": pidFile})
	b.ring(f, "default", job.ID)
	pid := waitForFile(t, pidFile)
	h.agent.Drain() // the first signal: the job keeps running
	h.stop()        // the second: hard stop
	if err := h.wait(); !errors.Is(err, agent.ErrHardStop) {
		t.Fatalf("Run: %v, want ErrHardStop", err)
	}
	waitGone(t, pid)
	f.locked(func() {
		if len(f.completions) != 0 {
			t.Errorf("a hard stop completed jobs: %+v", f.completions)
		}
	})
}

func TestNoJobStillDeletesTheDoorbell(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	f.waitFor("registration", func() bool { return f.registrations == 1 })
	receipt := b.ring(f, "default", "01GONE")
	deadline := time.Now().Add(hangGuard)
	for !b.wasDeleted(receipt) {
		if time.Now().After(deadline) {
			t.Fatal("a doorbell answered by 204 was not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClaimErrorKeepsTheDoorbellAndBacksOff(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour // only doorbells and the start sweep claim
	start(t, f, b, cfg)
	f.waitFor("the first sweep", func() bool { return f.claims >= 1 })
	f.locked(func() { f.claimFailures = 1 })
	job := f.script("default", `true`, nil)
	receipt := b.ring(f, "default", job.ID)
	f.waitFor("the failed claim", func() bool { return f.claimFailures == 0 })
	// A second doorbell after the backoff is answered and claims the job.
	second := b.ring(f, "default", job.ID)
	f.awaitCompletion(job.ID)
	deadline := time.Now().Add(hangGuard)
	for !b.wasDeleted(second) {
		if time.Now().After(deadline) {
			t.Fatal("the second doorbell was not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.wasDeleted(receipt) {
		t.Fatal("a doorbell whose claim failed was deleted: SQS could not deliver it again")
	}
}

func TestReceiveErrorsBackOffAndRecover(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	b.receiveErrs = 3
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	start(t, f, b, cfg)
	f.waitFor("the first sweep", func() bool { return f.claims >= 1 })
	job := f.script("default", `true`, nil)
	b.ring(f, "default", job.ID)
	if c := f.awaitCompletion(job.ID); c.Req.Result != "succeeded" {
		t.Fatalf("completion %+v", c.Req)
	}
}

func TestIdleClaimFindsJobsWhoseDoorbellWasLost(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.PollWait = 100 * time.Millisecond // long polls that end empty, often
	start(t, f, b, cfg)
	f.waitFor("the first sweep", func() bool { return f.claims >= 1 })
	job := f.script("default", `true`, nil) // no doorbell
	if c := f.awaitCompletion(job.ID); c.Req.Result != "succeeded" {
		t.Fatalf("completion %+v", c.Req)
	}
}

func TestLogStreamsInBoundedHeartbeats(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.MaxLogChunk = 1024
	h := start(t, f, b, cfg)
	dir := t.TempDir()
	proceed := filepath.Join(dir, "proceed")
	// 100 numbered lines of 100 bytes, then wait (so heartbeats carry it), then a last line.
	job := f.script("default", `i=0; while [ $i -lt 100 ]; do printf '%03d%097d\n' $i 0; i=$((i+1)); done; while [ ! -f "$PROCEED" ]; do sleep 0.05; done; echo the-end`, map[string]string{"PROCEED": proceed})
	b.ring(f, "default", job.ID)
	f.waitFor("the tail in a heartbeat", func() bool { return f.jobs[job.ID] != nil && strings.Contains(f.jobs[job.ID].log.String(), "099000") })
	// A second renewal: the agent sends a heartbeat once it has taken the
	// answer to the one before, so it has learnt a renewed version.
	f.waitFor("two renewals", func() bool { return f.jobs[job.ID].version >= f.jobs[job.ID].claimed+2 })
	os.WriteFile(proceed, nil, 0o644)
	c := f.awaitCompletion(job.ID)
	// Over 8 KiB: the whole log is PUT once through the claim's URL, and
	// the completion says so, without asking the farm for a URL.
	f.locked(func() {
		// Many heartbeats renewed the job: the completion presumes a
		// version one of their answers gave.
		if fj := f.jobs[job.ID]; c.Req.Version <= fj.claimed || c.Req.Version > fj.version {
			t.Errorf("the completion presumes version %d; claimed at %d, renewed up to %d", c.Req.Version, fj.claimed, fj.version)
		}
		key := "logs/" + job.ID + "/1.log"
		if !c.Req.LogUploaded || c.Req.LogComplete || c.Req.LogSize != int64(len(f.uploads[key])) || f.puts[key] != 1 || f.urlRequests != 0 {
			t.Errorf("log uploaded %v (%d bytes, %d PUTs of %d bytes), %d URL requests", c.Req.LogUploaded, c.Req.LogSize, f.puts[key], len(f.uploads[key]), f.urlRequests)
		}
		if full := string(f.uploads[key]); !strings.Contains(full, "099000") || !strings.Contains(full, "the-end") || !strings.Contains(full, "000000") {
			t.Errorf("the uploaded log lacks lines: %d bytes", len(full))
		}
	})
	if err := h.drain(); err != nil {
		t.Fatal(err)
	}
	f.locked(func() {
		skipped := false
		next := int64(-1) // heartbeat chunks start further into the log each time
		for _, hb := range f.heartbeats {
			for _, j := range hb.Jobs {
				if j.Log != "" {
					if j.LogOffset == nil || *j.LogOffset <= next {
						t.Errorf("a heartbeat's log at offset %v after %d", j.LogOffset, next)
					} else {
						next = *j.LogOffset
					}
				}
				if len(j.Log) > 1024+200 {
					t.Errorf("a heartbeat carried %d bytes of log", len(j.Log))
				}
				if strings.Contains(j.Log, "bytes of log skipped") {
					skipped = true
				}
				if j.Progress == "" {
					t.Error("a heartbeat without progress")
				}
			}
		}
		if !skipped {
			t.Error("no heartbeat said that log text was skipped")
		}
		full := string(f.uploads["logs/"+job.ID+"/1.log"])
		for _, line := range []string{"000", "050", "099", "the-end"} {
			if !strings.Contains(full, "\n"+line) {
				t.Errorf("the full log lacks line %s", line)
			}
		}
	})
}

func TestReregistersWhenTheFarmForgetsTheBuilder(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	f.waitFor("registration", func() bool { return f.registrations == 1 })
	// The farm lost its builders table: heartbeats answer 404.
	f.locked(func() { f.known = false })
	f.waitFor("a registration after the 404", func() bool { return f.registrations == 2 })
	// And the reregister directive.
	f.locked(func() { f.reregister = true })
	f.waitFor("a registration after the directive", func() bool { return f.registrations == 3 })
	job := f.script("default", `true`, nil)
	b.ring(f, "default", job.ID)
	f.awaitCompletion(job.ID)
}

func TestFarmDrainStopsClaimingUntilLifted(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	h := start(t, f, b, testConfig(t, "default"))
	f.locked(func() { f.drain = true })
	f.waitFor("the drain to be seen", func() bool { return len(f.heartbeats) >= 2 })
	deadline := time.Now().Add(hangGuard)
	for !h.agent.Status().FarmDrain {
		if time.Now().After(deadline) {
			t.Fatal("the farm's drain was not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var claimsBefore, beats int
	f.locked(func() { claimsBefore, beats = f.claims, len(f.heartbeats) })
	job := f.script("default", `true`, nil)
	receipt := b.ring(f, "default", job.ID)
	// Two more heartbeats: plenty of time for a wrong claim.
	f.waitFor("two more heartbeats", func() bool { return len(f.heartbeats) >= beats+2 })
	f.locked(func() {
		if f.claims != claimsBefore {
			t.Errorf("claimed %d times while the farm said drain", f.claims-claimsBefore)
		}
	})
	if b.wasDeleted(receipt) {
		t.Error("a doorbell was taken while the farm said drain")
	}
	f.locked(func() { f.drain = false })
	f.awaitCompletion(job.ID)
}

func TestAgentRefusesABadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []agent.Config{
		{Spec: farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}}},
		{Name: "Bad Name", Spec: farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}}},
		{Name: "b", Spec: farm.BuilderSpec{Kind: "vm", Arch: "amd64", Pools: []string{"default"}}},
		{Name: "b", Spec: farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64"}},
		{Name: "b", Spec: farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}, Slots: 1000}},
	} {
		if _, err := agent.New(cfg, nil, nil); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

func TestRegistrationRefusedIsAnError(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	f.refuse = true
	h := start(t, f, newFakeBells(f), testConfig(t, "default"))
	if err := h.wait(); err == nil || !farm.IsCode(err, farm.EForbidden) {
		t.Fatalf("Run: %v, want the farm's forbidden error", err)
	}
}

func TestDrainWhileTheFarmIsUnreachable(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	f.srv.Close() // nobody answers: registration retries
	cfg := testConfig(t, "default")
	h := start(t, f, newFakeBells(f), cfg)
	h.agent.Drain()
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v, want a clean drain", err)
	}
}

func TestSourceIsDownloadedAndRun(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	job := f.push("default", farm.TypeScript, map[string]string{"source": "s3://farm/incoming/script/build.sh"}, 60)
	f.locked(func() {
		f.sources[job.ID] = "echo \"running $0 from $FARM_SOURCE_FILE\"\ncp \"$FARM_SOURCE_FILE\" \"$FARM_ARTIFACTS_DIR/\"\n"
	})
	b.ring(f, "default", job.ID)
	c := f.awaitCompletion(job.ID)
	if c.Req.Result != "succeeded" || artifactNames(c.Req.Artifacts) != "build.sh" {
		t.Fatalf("completion %+v", c.Req)
	}
	if !c.Req.LogComplete || !strings.Contains(c.Req.Log, "/build.sh from ") {
		t.Errorf("full log:\n%s", c.Req.Log)
	}
}

func TestArtifactUploadFailureFailsTheJob(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	f.refuseUploads = true
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	job := f.script("default", `echo x > "$FARM_ARTIFACTS_DIR/out.bin"`, nil)
	b.ring(f, "default", job.ID)
	c := f.awaitCompletion(job.ID)
	if c.Req.Result != "failed" || !strings.Contains(c.Req.Error, "artifact upload") || len(c.Req.Artifacts) != 0 {
		t.Fatalf("completion %+v", c.Req)
	}
}

func TestRefusedCompletionFallsBackToFailed(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	f.refuseArtifacts = true
	b := newFakeBells(f)
	start(t, f, b, testConfig(t, "default"))
	job := f.script("default", `echo x > "$FARM_ARTIFACTS_DIR/out.bin"`, nil)
	b.ring(f, "default", job.ID)
	c := f.awaitCompletion(job.ID)
	if !c.Accepted || c.Req.Result != "failed" || len(c.Req.Artifacts) != 0 || !strings.Contains(c.Req.Error, "refused the completion") {
		t.Fatalf("completion %+v", c)
	}
}
