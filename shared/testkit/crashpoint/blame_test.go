package crashpoint_test

import (
	"context"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/testkit/crashpoint"
)

// An API that dies after writing a claim never answers it: its builder
// never runs the job, which waits for its lease and is then requeued by the
// reaper. The builder heartbeated all along; the crash was not its fault
// and it should not be blamed for the lease.
func TestACrashedClaimIsNotBlamedOnItsBuilder(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		if sc.name != "claim" {
			continue
		}
		ctx := context.Background()
		f := crashpoint.NewFarm(t0, policy, "default")
		cs := crashpoint.NewClients()
		sc.setup(t, ctx, f, cs)
		_ = sc.run(ctx, f, cs, crashpoint.CrashAfter(1))
		if err := sc.run(ctx, f, cs, crashpoint.Live()); err != nil {
			t.Fatal(err)
		}
		if err := f.Recover(ctx, cs); err != nil {
			t.Fatal(err)
		}
		blamed, err := f.CheckBlame(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		if len(blamed) > 0 {
			t.Fatalf("blamed for the API's crash:\n  %s", strings.Join(blamed, "\n  "))
		}
	}
}
