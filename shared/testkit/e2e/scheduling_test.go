package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/proctest"
)

// A pooled resource goes free -> used -> dirty -> (a real agent runs its
// clean-resource job) -> free, and the clean script really runs.
func TestReleasedResourceIsCleanedByARealAgent(t *testing.T) {
	t.Parallel()
	f := startFarm(t)
	ctx := context.Background()
	f.startBuilder(t, "cleaner", 1, "default")
	marker := proctest.SharedDir(t) + "/cleaned"
	script := "echo cleaning $FARM_RESOURCE of $FARM_RESOURCE_POOL > " + marker
	if _, err := f.admin.PutResourcePool(ctx, "devices", apiv1.ResourcePoolRequest{CleanScript: &script}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.AddResource(ctx, "devices", apiv1.AddResourceRequest{Name: "phone-1"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.admin.AcquireResource(ctx, "devices", apiv1.AcquireRequest{Holder: "test-run-7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.AcquireResource(ctx, "devices", apiv1.AcquireRequest{Holder: "greedy"}); !farm.IsCode(err, farm.ENoneFree) {
		t.Fatalf("second acquire: %v, want none_free", err)
	}
	released, err := f.admin.ReleaseResource(ctx, "devices", "phone-1", got.LeaseToken)
	if err != nil {
		t.Fatal(err)
	}
	if released.State != farm.ResourceDirty || released.CleanJobID == "" {
		t.Fatalf("released %+v", released)
	}
	eventually(t, 60*time.Second, "the resource to be free again", func() bool {
		view, err := f.admin.GetResourcePool(ctx, "devices")
		return err == nil && view.Resources[0].State == farm.ResourceFree
	})
	clean, err := f.admin.GetJob(ctx, released.CleanJobID)
	if err != nil {
		t.Fatal(err)
	}
	if clean.Status != farm.StatusSucceeded || clean.Builder != "cleaner" {
		t.Fatalf("clean job %+v", clean)
	}
	if b, err := readFile(marker); err != nil || !strings.Contains(b, "cleaning phone-1 of devices") {
		t.Fatalf("clean script output %q, %v", b, err)
	}
	if _, err := f.admin.AcquireResource(ctx, "devices", apiv1.AcquireRequest{Holder: "next"}); err != nil {
		t.Fatalf("acquire after cleaning: %v", err)
	}
}

// A three-level chain runs in order on a real agent; a failure in the
// middle fails the rest with the reason.
func TestDependencyChainRunsInOrderAndFailuresCascade(t *testing.T) {
	t.Parallel()
	f := startFarm(t)
	ctx := context.Background()
	f.startBuilder(t, "chain", 2, "default")
	trace := proctest.SharedDir(t) + "/trace"
	submit := func(script string, deps ...string) *farm.Job {
		t.Helper()
		payload, _ := json.Marshal(map[string]string{"script": script})
		j, _, err := f.admin.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: payload, DependsOn: deps}, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	// Levels that would finish in the wrong order if they ran at once.
	a := submit("sleep 1; echo a >> " + trace)
	b := submit("sleep 0.5; echo b >> "+trace, a.ID)
	c := submit("echo c >> "+trace, b.ID)
	waitTerminal(t, f, c.ID)
	if got, _ := readFile(trace); got != "a\nb\nc\n" {
		t.Fatalf("chain ran as %q, want a, b, c in order", got)
	}

	// x takes a second so that the rest of the chain is submitted (and
	// waiting) before y can fail: a job submitted after its dependency
	// failed fails at once, which is right but not what this checks.
	x := submit("sleep 1; echo x")
	y := submit("exit 3", x.ID)
	z := submit("echo z", y.ID)
	zz := submit("echo zz", z.ID)
	for _, j := range []*farm.Job{z, zz} {
		if j.Status != farm.StatusWaiting {
			t.Fatalf("%s submitted %s, want waiting", j.ID, j.Status)
		}
	}
	final := waitTerminal(t, f, zz.ID)
	if final.Status != farm.StatusFailed || !strings.Contains(final.Error, "dependency "+z.ID) {
		t.Fatalf("last of the chain: %s %q", final.Status, final.Error)
	}
	mid, _ := f.admin.GetJob(ctx, z.ID)
	if mid.Status != farm.StatusFailed || !strings.Contains(mid.Error, "dependency "+y.ID+" failed") || mid.Attempts != 0 {
		t.Fatalf("z: %s %q (attempts %d)", mid.Status, mid.Error, mid.Attempts)
	}
	if got, _ := f.admin.GetJob(ctx, y.ID); got.Status != farm.StatusFailed || got.ExitCode == nil || *got.ExitCode != 3 {
		t.Fatalf("y: %+v", got)
	}
	// Unknown ids are refused at submit.
	payload := json.RawMessage(`{"script":"true"}`)
	_, _, err := f.admin.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: payload, DependsOn: []string{farm.NewID(time.Now())}}, "")
	if !farm.IsCode(err, farm.EInvalid) {
		t.Fatalf("unknown dependency: %v, want invalid", err)
	}
}

func waitTerminal(t *testing.T, f *testFarm, id string) *farm.Job {
	t.Helper()
	var j *farm.Job
	eventually(t, 60*time.Second, "job "+id+" to end", func() bool {
		var err error
		j, err = f.admin.GetJob(context.Background(), id)
		return err == nil && j.Status.Terminal()
	})
	return j
}
