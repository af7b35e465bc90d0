package agent_test

import (
	"context"
	"os"
	"testing"

	"github.com/buildfarm/buildfarm/shared/runtime/agent"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestLocalBuildersGetTokensAndServe(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	cfg := testConfig(t, "default")
	bells := newFakeBells(f)
	local := &agent.LocalBuilders{Doorbells: bells, Executors: cfg.Executors, Logger: cfg.Logger, WorkDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer local.Wait()
	defer cancel()
	if err := local.Start(ctx, f.srv.URL, "admin-token", 2); err != nil {
		t.Fatal(err)
	}
	f.waitFor("two registrations", func() bool { return f.registrations == 2 })
	jobs := []string{f.script("default", `true`, nil).ID, f.script("default", `true`, nil).ID}
	for _, id := range jobs {
		bells.ring(f, "default", id)
	}
	for _, id := range jobs {
		if c := f.awaitCompletion(id); c.Req.Result != "succeeded" {
			t.Fatalf("completion %+v", c.Req)
		}
	}
	if err := (&agent.LocalBuilders{}).Start(ctx, f.srv.URL, "not-admin", 1); err == nil {
		t.Fatal("started a builder without an admin token")
	}
}

// Local builders made without executors (the local runtime's) isolate their
// jobs: as root, a job runs as the job user and cannot read its init.
func TestLocalBuildersIsolateTheirJobs(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("\n*** not root: local builders run jobs as this user (and warn)")
	}
	f := newFakeFarm(t, "default")
	cfg := testConfig(t, "default")
	bells := newFakeBells(f)
	local := &agent.LocalBuilders{Doorbells: bells, Logger: cfg.Logger, WorkDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer local.Wait()
	defer cancel()
	if err := local.Start(ctx, f.srv.URL, "admin-token", 1); err != nil {
		t.Fatal(err)
	}
	job := f.script("default", `test "$(id -un)" = `+executor.DefaultJobUser+` && ! cat /proc/1/environ`, nil)
	bells.ring(f, "default", job.ID)
	if c := f.awaitCompletion(job.ID); c.Req.Result != "succeeded" {
		t.Fatalf("completion %+v", c.Req)
	}
}
