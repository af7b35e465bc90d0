package claims_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// Who may claim from where.
func TestClaimRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 1)
	f.register(t, "b-amd", 1, "amd64")
	_, err := f.builders.Disable(ctx, admin, "b-amd", "broken")
	must(t, err)
	f.script(t, 0)
	for _, tc := range []struct {
		name, builder, pool string
		by                  farm.Principal
		code, field         string
	}{
		{"no pool", "b1", "", builder("b1"), farm.EInvalid, "pool"},
		{"not a pool name", "b1", "Not A Pool", builder("b1"), farm.EInvalid, "pool"},
		{"token bound to other pools", "b1", "default", farm.Principal{Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"amd64"}}, farm.EForbidden, ""},
		{"pool not served", "b1", "gpu", builder("b1"), farm.EInvalid, "pool"},
		{"builder not registered", "b9", "default", builder("b9"), farm.ENotFound, ""},
		{"builder not serving the pool", "b1", "amd64", builder("b1"), farm.EForbidden, ""},
		{"disabled builder", "b-amd", "amd64", builder("b-amd"), farm.EConflict, ""},
	} {
		_, err := f.Claim(ctx, tc.by, tc.builder, tc.pool)
		if !farm.IsCode(err, tc.code) || fieldOf(err) != tc.field {
			t.Errorf("%s: %v, want %s %q", tc.name, err, tc.code, tc.field)
		}
	}
	if j, _ := f.mem.GetJob(ctx, f.script(t, 0).ID); j.Status != farm.StatusQueued {
		t.Fatal("a refused claim changed a job")
	}
}

// A claim takes the best job (highest score, then oldest) under a lease
// and publishes its time to start; it arms no timer and writes no builder
// item (the job's reap_at is the reaper's, the slots the agent's).
func TestClaimTakesTheBestJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 2)
	low := f.script(t, 0)
	f.clock.Advance(time.Second)
	high := f.script(t, 10)
	later := f.script(t, 10)
	f.clock.Advance(4 * time.Second)
	order := []string{high.ID, later.ID}
	for _, want := range order {
		c := f.claim(t, "b1")
		if c.Job.ID != want || c.Job.Status != farm.StatusRunning || c.Job.ClaimToken == "" || c.Job.LeaseExpiresAt == nil {
			t.Fatalf("claimed %+v, want %s", c.Job, want)
		}
	}
	if len(f.metrics.values) != 2 || f.metrics.values[0] != "default TimeToStartSeconds=4Seconds" {
		t.Fatalf("metrics %v", f.metrics.values)
	}
	if b, _ := f.builders.Get(ctx, "b1"); b.Version != 1 {
		t.Fatalf("a claim wrote the builder: %+v", b)
	}
	if j := f.job(t, low.ID); j.Status != farm.StatusQueued {
		t.Fatalf("low-priority job %s", j.Status)
	}
}

// A job that needs a clean machine goes only to a clean builder.
func TestCleanBuildersOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b1", 2, "amd64")
	img := f.queue(t, farm.TypeLiveImageBuild, `{"project":"ubuntu","series":"noble","arch":"amd64"}`, 0)
	c, err := f.Claim(ctx, builder("b1"), "b1", "amd64")
	if err != nil || c == nil || c.Job.ID != img.ID {
		t.Fatalf("claim %+v %v", c, err)
	}
	_, err = f.Record(ctx, "b1", img.ID, farm.Completion{ClaimToken: c.Job.ClaimToken, Result: farm.StatusSucceeded})
	must(t, err)
	if b, _ := f.builders.Get(ctx, "b1"); b.CleanStatus != farm.CleanDirty {
		t.Fatalf("builder after an image build: %s", b.CleanStatus)
	}
	f.queue(t, farm.TypeLiveImageBuild, `{"project":"ubuntu","series":"noble","arch":"amd64"}`, 0)
	if c, err := f.Claim(ctx, builder("b1"), "b1", "amd64"); c != nil || err != nil {
		t.Fatalf("a dirty builder claimed an image build: %+v %v", c, err)
	}
}

// A claimed job's source comes with a presigned download when it is an
// upload under incoming/ (or a parent's artifact); nothing else is signed.
func TestSourceURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, payload, parent string
		key, version          string
	}{
		{"upload", `{"script":"x","source":"s3://farm/incoming/script/a.sh","source_version":"v7"}`, "", "incoming/script/a.sh", "v7"},
		{"no source", `{"script":"x"}`, "", "", ""},
		{"another bucket", `{"script":"x","source":"s3://other/incoming/a.sh"}`, "", "", ""},
		{"a log", `{"script":"x","source":"s3://farm/logs/a.log"}`, "", "", ""},
		{"the parent's artifact", `{"script":"x","source":"s3://farm/artifacts/PARENT/1/out"}`, "PARENT", "artifacts/PARENT/1/out", ""},
		{"another job's artifact", `{"script":"x","source":"s3://farm/artifacts/OTHER/1/out"}`, "PARENT", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.register(t, "b1", 1)
			j := f.script(t, 0)
			// Stored as it would be for a follow-on job or before the submit-time check.
			cur := f.job(t, j.ID)
			next := cur.Clone()
			next.Payload, next.ParentID = []byte(tc.payload), tc.parent
			next.Version++
			must(t, f.mem.Commit(ctx, storeTx(cur, next)))
			c := f.claim(t, "b1")
			if tc.key == "" {
				if c.SourceURL != "" {
					t.Fatalf("signed %s", c.SourceURL)
				}
				return
			}
			u, err := url.Parse(c.SourceURL)
			if err != nil || !strings.HasSuffix(u.Path, "/"+tc.key) || u.Query().Get("versionId") != tc.version {
				t.Fatalf("source URL %q, want %s at %q", c.SourceURL, tc.key, tc.version)
			}
		})
	}
	_ = blobs.IncomingPrefix
}
