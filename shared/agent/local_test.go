package agent_test

import (
	"context"
	"testing"

	"github.com/buildfarm/buildfarm/shared/agent"
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
