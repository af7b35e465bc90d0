package jobs_test

import (
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/app/blobs"
	"github.com/buildfarm/buildfarm/shared/app/jobs"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// A job's secret payload values are shown only to its owner and admins;
// queued jobs come with their start estimate.
func TestReadsAsSeenByTheCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	j := f.submit(t, alice, `{"script":"deploy","env":{"TOKEN":"s3cret"}}`)
	for _, tc := range []struct {
		who      string
		by       farm.Principal
		redacted bool
	}{{"owner", alice, false}, {"admin", admin, false}, {"other submitter", bob, true}, {"builder", b1, true}} {
		got, err := f.Get(ctx, tc.by, j.ID)
		must(t, err)
		if shown := strings.Contains(string(got.Payload), "s3cret"); shown == tc.redacted || got.PayloadRedacted != tc.redacted {
			t.Fatalf("%s sees %s (redacted=%v)", tc.who, got.Payload, got.PayloadRedacted)
		}
		if got.EstimatedStartAt == nil {
			t.Fatalf("%s: a queued job without its estimate", tc.who)
		}
		page, err := f.List(ctx, tc.by, store.JobFilter{})
		must(t, err)
		if len(page.Jobs) != 1 || page.Jobs[0].PayloadRedacted != tc.redacted {
			t.Fatalf("%s lists %+v", tc.who, page.Jobs)
		}
	}
	if stored, _ := f.mem.GetJob(ctx, j.ID); !strings.Contains(string(stored.Payload), "s3cret") {
		t.Fatal("redaction changed the stored job")
	}
	_, err := f.Get(ctx, admin, farm.NewID(t0))
	mustCode(t, err, farm.ENotFound)
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	f.submit(t, alice, `{"script":"a"}`)
	f.submit(t, bob, `{"script":"b"}`)
	for _, tc := range []struct {
		name   string
		filter store.JobFilter
		field  string
		n      int
	}{
		{"everything", store.JobFilter{}, "", 2},
		{"by requester", store.JobFilter{RequestedBy: alice.Actor()}, "", 1},
		{"requester too long", store.JobFilter{RequestedBy: strings.Repeat("a", jobs.MaxActorLength+1)}, "requested_by", 0},
		{"unknown type", store.JobFilter{Type: "nope"}, "type", 0},
		{"pool that cannot exist", store.JobFilter{Pool: "Not A Pool"}, "pool", 0},
		{"bad status", store.JobFilter{Status: "done"}, "status", 0},
		{"bad limit", store.JobFilter{Limit: -1}, "limit", 0},
	} {
		page, err := f.List(ctx, admin, tc.filter)
		if tc.field != "" {
			var fe *farm.Error
			if !asError(err, &fe) || fe.Code != farm.EInvalid || fe.Field != tc.field {
				t.Fatalf("%s: %v, want invalid %s", tc.name, err, tc.field)
			}
			continue
		}
		if err != nil || len(page.Jobs) != tc.n {
			t.Fatalf("%s: %d jobs, %v", tc.name, len(page.Jobs), err)
		}
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	j := f.submit(t, alice, `{"script":"a"}`)
	_, err := f.Cancel(ctx, alice, j.ID)
	must(t, err)
	evs, err := f.Events(ctx, j.ID)
	if err != nil || len(evs) != 2 || evs[0].To != farm.StatusQueued || evs[1].To != farm.StatusCancelled {
		t.Fatalf("events %+v %v", evs, err)
	}
	_, err = f.Events(ctx, farm.NewID(t0))
	mustCode(t, err, farm.ENotFound)
}

// A running job's log is its tail; a finished job's the stored log — sent
// when small, a download when large, the tail when it went missing.
func TestLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	read := func(l *jobs.Log) string {
		t.Helper()
		if l.Body == nil {
			return l.Tail
		}
		defer l.Body.Close()
		b, err := io.ReadAll(l.Body)
		must(t, err)
		return string(b)
	}
	running := f.set(t, f.submit(t, alice, `{"script":"a"}`).ID, farm.StatusRunning, func(j *farm.Job) { j.Run = 2 })
	chunk := func(j *farm.Job, run int, offset int64, text string) {
		must(t, f.mem.AppendLogChunk(ctx, farm.LogChunk{JobID: j.ID, Run: run, Offset: offset, Text: text}))
	}
	chunk(running, 1, 0, "an earlier run\n")
	chunk(running, 2, 7, "step 2\n")
	chunk(running, 2, 0, "step 1\n")
	l, err := f.Log(ctx, running.ID)
	if err != nil || l.Body != nil || read(l) != "step 1\nstep 2\n" {
		t.Fatalf("running log %+v %v", l, err)
	}
	// The live log follows: a later read has what later heartbeats added.
	chunk(running, 2, 14, "step 3\n")
	if l, err = f.Log(ctx, running.ID); err != nil || read(l) != "step 1\nstep 2\nstep 3\n" {
		t.Fatalf("followed log %+v %v", l, err)
	}
	// Finished: the log the completion carried whole, not the chunks.
	whole := f.set(t, f.submit(t, alice, `{"script":"a"}`).ID, farm.StatusSucceeded, func(j *farm.Job) { j.Run, j.LogInline, j.LogComplete = 1, "the whole log\n", true })
	chunk(whole, 1, 0, "a piece\n")
	if l, err = f.Log(ctx, whole.ID); err != nil || read(l) != "the whole log\n" {
		t.Fatalf("inline log %+v %v", l, err)
	}
	// Finished without a whole log: the chunks, then the completion's end.
	partial := f.set(t, f.submit(t, alice, `{"script":"a"}`).ID, farm.StatusFailed, func(j *farm.Job) { j.Run, j.LogInline = 1, "the end\n" })
	chunk(partial, 1, 0, "the start\n")
	if l, err = f.Log(ctx, partial.ID); err != nil || read(l) != "the start\nthe end\n" {
		t.Fatalf("partial log %+v %v", l, err)
	}
	for _, tc := range []struct {
		name, stored string
		want         string
		download     bool
	}{
		{"stored", "full log\n", "full log\n", false},
		{"large", strings.Repeat("x", jobs.MaxLogBody+1), "", true},
		{"missing", "", "tail only\n", false},
	} {
		j := f.set(t, f.submit(t, alice, `{"script":"a"}`).ID, farm.StatusSucceeded, func(j *farm.Job) { j.LogKey, j.LogTail = blobs.LogKey(j.ID, 1), "tail only\n" })
		if tc.stored != "" {
			f.blobs.Upload(blobs.LogKey(j.ID, 1), tc.stored)
		}
		l, err := f.Log(ctx, j.ID)
		must(t, err)
		if tc.download {
			if l.DownloadURL == "" || !strings.Contains(l.DownloadURL, blobs.LogKey(j.ID, 1)) || l.Body != nil {
				t.Fatalf("%s: %+v", tc.name, l)
			}
			continue
		}
		if got := read(l); got != tc.want {
			t.Fatalf("%s: log %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Artifacts are listed by run, then name; a download is of the latest run
// that has the artifact, or of the run asked, pinned to its version.
func TestArtifacts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, farm.Policy{})
	art := func(name string, run int, version string) farm.Artifact {
		return farm.Artifact{Name: name, Key: blobs.ArtifactKey("x", run, name), Attempt: run, VersionID: version}
	}
	j := f.set(t, f.submit(t, alice, `{"script":"a"}`).ID, farm.StatusSucceeded, func(j *farm.Job) {
		j.Artifacts = []farm.Artifact{art("b.txt", 2, "v4"), art("a.txt", 2, "v3"), art("b.txt", 1, "v1")}
	})
	list, err := f.Artifacts(ctx, j.ID)
	must(t, err)
	var order []string
	for _, a := range list {
		order = append(order, a.Name+"@"+a.VersionID)
	}
	if strings.Join(order, " ") != "b.txt@v1 a.txt@v3 b.txt@v4" {
		t.Fatalf("order %v", order)
	}
	for _, tc := range []struct {
		name    string
		attempt int
		version string
		code    string
	}{
		{"b.txt", 0, "v4", ""},
		{"b.txt", 1, "v1", ""},
		{"a.txt", 1, "", farm.ENotFound},
		{"nope.txt", 0, "", farm.ENotFound},
		{"../etc/passwd", 0, "", farm.ENotFound},
	} {
		a, pre, err := f.ArtifactDownload(ctx, j.ID, tc.name, tc.attempt)
		if tc.code != "" {
			mustCode(t, err, tc.code)
			continue
		}
		must(t, err)
		u, _ := url.Parse(pre.URL)
		if a.VersionID != tc.version || u.Query().Get("versionId") != tc.version || u.Query().Get("filename") != tc.name {
			t.Fatalf("%s@%d: %+v %s", tc.name, tc.attempt, a, pre.URL)
		}
	}
}
