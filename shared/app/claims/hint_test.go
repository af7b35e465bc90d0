package claims_test

import (
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// holdBack stores job id as a requeue with a backoff would leave it:
// queued, not claimable until later.
func holdBack(t *testing.T, f *fixture, id string, until time.Time) {
	t.Helper()
	cur := f.job(t, id)
	next := cur.Clone()
	next.NotBefore = farm.TimePtr(until)
	next.Version++
	must(t, f.mem.Commit(ctx, storeTx(cur, next)))
}

// A claim says whether another job it could claim was queued when it
// looked: the builder claims again after its job only then.
func TestClaimSaysWhetherMoreIsQueued(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 4)
	f.script(t, 0)
	f.script(t, 0)
	if c := f.claim(t, "b1"); !c.MoreQueued {
		t.Fatal("the first of two queued jobs was claimed with more_queued false")
	}
	if c := f.claim(t, "b1"); c.MoreQueued {
		t.Fatal("the last queued job was claimed with more_queued true")
	}
	if c, err := f.Claim(ctx, builder("b1"), "b1", "default"); c != nil || err != nil {
		t.Fatalf("an empty pool answered %+v %v", c, err)
	}
}

// Jobs the builder could not claim now do not count: a held-back job
// (its delayed doorbell rings when it may be claimed) and, for a dirty
// builder, one that needs a clean machine.
func TestMoreQueuedCountsOnlyWhatTheBuilderCouldClaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 4, "amd64")
	img := `{"project":"ubuntu","series":"noble","arch":"amd64"}`
	first := f.queue(t, farm.TypeLiveImageBuild, img, 10)
	c, err := f.Claim(ctx, builder("b1"), "b1", "amd64")
	if err != nil || c == nil || c.Job.ID != first.ID {
		t.Fatalf("claim %+v %v", c, err)
	}
	_, err = f.Record(ctx, "b1", first.ID, farm.Completion{ClaimToken: c.Job.ClaimToken, Result: farm.StatusSucceeded})
	must(t, err) // b1 is dirty now
	// The best job comes first: what is left behind it is what counts.
	best := f.queue(t, farm.TypeScript, `{"script":"true","pool":"amd64"}`, 20)
	f.queue(t, farm.TypeLiveImageBuild, img, 10)
	later := f.queue(t, farm.TypeScript, `{"script":"true","pool":"amd64"}`, 5)
	holdBack(t, f, later.ID, t0.Add(time.Hour))
	c, err = f.Claim(ctx, builder("b1"), "b1", "amd64")
	if err != nil || c == nil || c.Job.ID != best.ID {
		t.Fatalf("claim %+v %v", c, err)
	}
	if c.MoreQueued {
		t.Fatal("more_queued true though the rest were an image build for a clean builder and a held-back job")
	}
}

// A full page of candidates says more may be queued beyond it, whatever
// the page held: the claim did not read past it.
func TestAFullPageMeansMoreQueued(t *testing.T) {
	t.Parallel()
	scan := farm.Policy{}.WithDefaults().ClaimScan
	for _, tc := range []struct {
		name string
		held int // held-back jobs behind the one claimable job
		want bool
	}{
		{"page not full", scan - 2, false},
		{"page full", scan - 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.register(t, "b1", 1)
			f.script(t, 10)
			for range tc.held {
				holdBack(t, f, f.script(t, 0).ID, t0.Add(time.Hour))
			}
			if c := f.claim(t, "b1"); c.MoreQueued != tc.want {
				t.Fatalf("%d candidates of a page of %d: more_queued %v, want %v", tc.held+1, scan, c.MoreQueued, tc.want)
			}
		})
	}
}
