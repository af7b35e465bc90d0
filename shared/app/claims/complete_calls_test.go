package claims_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memblobs"
	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// countingStore counts the claims service's calls to its store.
type countingStore struct {
	*memstore.Store
	gets, commits, chunks atomic.Int64
	// patches counts completion patches (CompleteJob), written or not.
	patches atomic.Int64
	// beforeCommit, when set, runs once before the next commit.
	beforeCommit func()
}

func (c *countingStore) GetJob(ctx context.Context, id string) (*farm.Job, error) {
	c.gets.Add(1)
	return c.Store.GetJob(ctx, id)
}

func (c *countingStore) Commit(ctx context.Context, tx store.Tx) error {
	c.commits.Add(1)
	if hook := c.beforeCommit; hook != nil {
		c.beforeCommit = nil
		hook()
	}
	return c.Store.Commit(ctx, tx)
}

func (c *countingStore) CompleteJob(ctx context.Context, p *farm.CompletionPatch) (*farm.Job, error) {
	c.patches.Add(1)
	if hook := c.beforeCommit; hook != nil {
		c.beforeCommit = nil
		hook()
	}
	return c.Store.CompleteJob(ctx, p)
}

func (c *countingStore) AppendLogChunk(ctx context.Context, ch farm.LogChunk) error {
	c.chunks.Add(1)
	return c.Store.AppendLogChunk(ctx, ch)
}

func (c *countingStore) reset() {
	c.gets.Store(0)
	c.commits.Store(0)
	c.chunks.Store(0)
	c.patches.Store(0)
}

// calls is every store call of a completion: reads, writes and patches.
func (c *countingStore) calls() (reads, writes, patches int64) {
	return c.gets.Load(), c.commits.Load(), c.patches.Load()
}

// countingBlobs counts every object storage call (presigning included).
type countingBlobs struct {
	*memblobs.Store
	calls atomic.Int64
}

func (c *countingBlobs) PresignPut(ctx context.Context, key string, ttl time.Duration) (*blobs.Presigned, error) {
	c.calls.Add(1)
	return c.Store.PresignPut(ctx, key, ttl)
}

func (c *countingBlobs) PresignDownload(ctx context.Context, d blobs.Download, ttl time.Duration) (*blobs.Presigned, error) {
	c.calls.Add(1)
	return c.Store.PresignDownload(ctx, d, ttl)
}

// countingFixture is a fixture whose claims service counts its calls.
func countingFixture(t *testing.T) (*fixture, *countingStore, *countingBlobs) {
	f := newFixture(t)
	st := &countingStore{Store: f.mem}
	bl := &countingBlobs{Store: f.blobs}
	f.opts = claims.Options{Store: st, Builders: f.builders, FollowUp: nopFollowUp{}, Blobs: bl,
		Pools: farm.NewPools([]string{"default", "amd64"}), Policy: farm.Policy{Heartbeat: 10 * time.Second}, Clock: f.clock.Now}
	f.Service = claims.New(f.opts)
	return f, st, bl
}

// elsewhere is another process serving the same farm (another Lambda
// instance): it wrote none of the jobs the fixture's service wrote.
func (f *fixture) elsewhere() *claims.Service { return claims.New(f.opts) }

type nopFollowUp struct{}

func (nopFollowUp) After(context.Context, *farm.Job)               {}
func (nopFollowUp) Ring(context.Context, *farm.Job, time.Duration) {}

// A completion with a small log is one read and one write of the job and
// no object storage call: the log is stored inline by that write, the
// artifacts as declared. Sent again (its answer lost), it is the same
// success with nothing written.
func TestCompletionIsOneReadOneWriteAndNoBlobCall(t *testing.T) {
	t.Parallel()
	f, st, bl := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	st.reset()
	bl.calls.Store(0)
	whole := strings.Repeat("line\n", farm.MaxInlineLog/5)
	r := claims.Report{ClaimToken: c.Job.ClaimToken, Result: "succeeded", Log: whole, LogComplete: true,
		Artifacts: []claims.ArtifactRef{{Name: "out.tar", Size: 10, SHA256: strings.Repeat("b", 64)}}}
	done, err := f.Complete(ctx, builder("b1"), j.ID, r)
	must(t, err)
	if g, w, b := st.gets.Load(), st.commits.Load(), bl.calls.Load(); g != 1 || w != 1 || b != 0 {
		t.Fatalf("a completion made %d job reads, %d writes, %d blob calls; want 1, 1, 0", g, w, b)
	}
	t.Logf("completion: %d read, %d write, %d blob calls", st.gets.Load(), st.commits.Load(), bl.calls.Load())
	if stored := f.job(t, j.ID); stored.LogInline != whole || !stored.LogComplete || len(stored.Artifacts) != 1 {
		t.Fatalf("stored %d bytes of log (complete %v), artifacts %+v", len(stored.LogInline), stored.LogComplete, stored.Artifacts)
	}
	st.reset()
	again, err := f.Complete(ctx, builder("b1"), j.ID, r)
	if err != nil || again.Version != done.Version || again.Status != farm.StatusSucceeded {
		t.Fatalf("the completion sent again: %+v %v", again, err)
	}
	if w := st.commits.Load(); w != 0 {
		t.Fatalf("the completion sent again wrote %d times", w)
	}
}

// The claim answer carries a presigned PUT of the run's whole log; a
// completion that says it uploaded there records that key (no storage call
// to check it) and a later run of the job gets its own key.
func TestTheClaimCarriesTheLogUpload(t *testing.T) {
	t.Parallel()
	f, st, bl := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	up := c.LogUpload
	if up == nil || up.Key != blobs.LogKey(j.ID, 1) || up.Method != "PUT" || !strings.Contains(up.URL, up.Key) {
		t.Fatalf("log upload %+v", up)
	}
	if min := t0.Add(time.Duration(c.Job.TimeoutSeconds) * time.Second); up.ExpiresAt.Before(min) {
		t.Fatalf("the log upload expires at %s, before the job's timeout (%s)", up.ExpiresAt, min)
	}
	f.blobs.Upload(up.Key, strings.Repeat("x", 3*farm.MaxInlineLog)) // the builder's one PUT
	st.reset()
	bl.calls.Store(0)
	done, err := f.Complete(ctx, builder("b1"), j.ID, claims.Report{ClaimToken: c.Job.ClaimToken, Result: "failed", LogUploaded: true, LogSize: 3 * farm.MaxInlineLog})
	must(t, err)
	if done.LogKey != up.Key || bl.calls.Load() != 0 || st.commits.Load() != 1 {
		t.Fatalf("log key %q after %d blob calls, %d writes", done.LogKey, bl.calls.Load(), st.commits.Load())
	}
	if stored := f.job(t, j.ID); stored.LogInline != "" || stored.LogComplete {
		t.Fatalf("an uploaded log also kept inline: %q", stored.LogInline)
	}
}

// Heartbeats append their log output as chunks, one per heartbeat, in log
// order; a heartbeat sent again rewrites its own chunk; the job item keeps
// no log.
func TestHeartbeatsAppendLogChunks(t *testing.T) {
	t.Parallel()
	f, st, _ := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	beat := func(text string, offset int64) {
		t.Helper()
		_, err := f.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: c.Job.ClaimToken, Log: text, LogOffset: &offset}}, false)
		must(t, err)
	}
	beat("one\n", 0)
	beat("two\n", 4)
	beat("two\n", 4) // the answer was lost: sent again
	beat("three\n", 8)
	if n := st.chunks.Load(); n != 4 {
		t.Fatalf("%d chunk writes for 4 heartbeats with log", n)
	}
	chunks, err := f.mem.LogChunks(ctx, j.ID, 1, 0)
	must(t, err)
	var text strings.Builder
	for _, ch := range chunks {
		text.WriteString(ch.Text)
		if ch.ExpiresAt.IsZero() {
			t.Fatalf("chunk %+v has no expiry", ch)
		}
	}
	if text.String() != "one\ntwo\nthree\n" || len(chunks) != 3 {
		t.Fatalf("chunks %+v", chunks)
	}
	if job := f.job(t, j.ID); job.LogTail != "" || job.LogInline != "" {
		t.Fatalf("the job item keeps log text: %q %q", job.LogTail, job.LogInline)
	}
	// A stale claim's heartbeat stores nothing.
	offset := int64(14)
	_, _ = f.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: j.ID, ClaimToken: "stale", Log: "not mine\n", LogOffset: &offset}}, false)
	if n := st.chunks.Load(); n != 4 {
		t.Fatalf("a stale heartbeat wrote a chunk")
	}
}

// A completion whose write loses to a cancel (asked between its read and
// its write) decides again from the job its failed write found stored —
// no second read — and the job ends as the domain says (a builder that
// finished the job anyway reports its result), with a second write.
func TestACompletionThatLosesToACancelDecidesFromTheFailedWrite(t *testing.T) {
	t.Parallel()
	f, st, _ := countingFixture(t)
	f.register(t, "b1", 1)
	j := f.script(t, 0)
	c := f.claim(t, "b1")
	st.reset()
	st.beforeCommit = func() { must(t, f.mem.Commit(ctx, cancelling(t, f, j.ID))) }
	done, err := f.Complete(ctx, builder("b1"), j.ID, claims.Report{ClaimToken: c.Job.ClaimToken, Result: "succeeded", Log: "done\n", LogComplete: true})
	must(t, err)
	if done.Status != farm.StatusSucceeded || st.gets.Load() != 1 || st.commits.Load() != 2 {
		t.Fatalf("ended %s after %d reads and %d writes; want succeeded after 1 and 2", done.Status, st.gets.Load(), st.commits.Load())
	}
	stored := f.job(t, j.ID)
	if n := len(stored.History); stored.Status != farm.StatusSucceeded || stored.LogInline != "done\n" || n < 2 || stored.History[n-2].To != farm.StatusCancelling {
		t.Fatalf("stored %s with log %q, history %+v", stored.Status, stored.LogInline, stored.History)
	}
}
