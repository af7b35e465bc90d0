package executor_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestWorkspaceIsFreshPerRun(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	job := &farm.Job{ID: farm.NewID(time.Now()), Attempts: 2}
	stale := filepath.Join(root, job.ID+"-2", "left-by-a-dead-builder")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("x"), 0o644)

	ws, err := executor.NewWorkspace(root, job)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Dir != filepath.Join(root, job.ID+"-2") || ws.ArtifactsDir != filepath.Join(ws.Dir, "artifacts") {
		t.Fatalf("workspace %+v", ws)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("leftover of an earlier run survived: %v", err)
	}
	// Nested artifacts are named by their relative path; symlinks are not uploaded.
	os.MkdirAll(filepath.Join(ws.ArtifactsDir, "debs"), 0o755)
	os.WriteFile(filepath.Join(ws.ArtifactsDir, "debs", "a.deb"), []byte("aa"), 0o644)
	os.WriteFile(filepath.Join(ws.ArtifactsDir, "b.log"), []byte("b"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(ws.ArtifactsDir, "passwd"))
	arts, err := ws.Artifacts()
	if err != nil || len(arts) != 2 || arts[0].Name != "b.log" || arts[1].Name != "debs/a.deb" || arts[1].Size != 2 {
		t.Fatalf("artifacts %+v, %v", arts, err)
	}
	// A read-only tree (Go's module cache does that) is still removed.
	ro := filepath.Join(ws.Dir, "ro")
	os.MkdirAll(ro, 0o755)
	os.WriteFile(filepath.Join(ro, "f"), []byte("x"), 0o444)
	os.Chmod(ro, 0o555)
	if err := ws.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ws.Dir); !os.IsNotExist(err) {
		t.Fatalf("workspace still there: %v", err)
	}
	if _, err := executor.NewWorkspace(root, &farm.Job{ID: "../x"}); err == nil {
		t.Fatal("a job id with a slash made a workspace")
	}
}

func TestFetchSource(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.Error(w, "NoSuchKey", http.StatusNotFound)
			return
		}
		w.Write([]byte("tarball bytes"))
	}))
	t.Cleanup(srv.Close)
	hc := srv.Client()
	t.Cleanup(hc.CloseIdleConnections)

	payload, _ := json.Marshal(map[string]string{"source": "s3://bucket/incoming/binary-build/hello-1.0.tar.gz"})
	job := &farm.Job{ID: farm.NewID(time.Now()), Attempts: 1, Payload: payload}
	ws, err := executor.NewWorkspace(t.TempDir(), job)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.FetchSource(context.Background(), hc, job, srv.URL+"/presigned?X-Amz-Signature=x"); err != nil {
		t.Fatal(err)
	}
	if ws.SourceFile != filepath.Join(ws.Dir, "hello-1.0.tar.gz") {
		t.Fatalf("source file %q", ws.SourceFile)
	}
	if b, _ := os.ReadFile(ws.SourceFile); string(b) != "tarball bytes" {
		t.Fatalf("source content %q", b)
	}
	if err := ws.FetchSource(context.Background(), hc, job, srv.URL+"/missing"); err == nil {
		t.Fatal("a 404 source was accepted")
	}

	// An http(s) source in the payload is fetched directly when the farm presigned nothing.
	payload, _ = json.Marshal(map[string]string{"source": srv.URL + "/dl/"})
	job = &farm.Job{ID: farm.NewID(time.Now()), Attempts: 1, Payload: payload}
	ws, _ = executor.NewWorkspace(t.TempDir(), job)
	if err := ws.FetchSource(context.Background(), hc, job, ""); err != nil || ws.SourceFile != filepath.Join(ws.Dir, "dl") {
		t.Fatalf("direct source: %q, %v", ws.SourceFile, err)
	}
	// No source at all is nothing to do.
	job = &farm.Job{ID: farm.NewID(time.Now()), Attempts: 1, Payload: json.RawMessage(`{"script":"true"}`)}
	ws, _ = executor.NewWorkspace(t.TempDir(), job)
	if err := ws.FetchSource(context.Background(), hc, job, ""); err != nil || ws.SourceFile != "" {
		t.Fatalf("no source: %q, %v", ws.SourceFile, err)
	}
}

func TestSourceName(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		"s3://b/incoming/binary-build/hello-1.0.tar.gz": "hello-1.0.tar.gz",
		"https://example.com/x/pkg.dsc?versionId=3":     "pkg.dsc",
		"s3://b/":          "source",
		"s3://b/.hidden":   "source",
		"s3://b/artifacts": "source",
		"":                 "source",
	} {
		payload, _ := json.Marshal(map[string]string{"source": src})
		if got := executor.SourceName(&farm.Job{Payload: payload}); got != want {
			t.Errorf("SourceName(%q) = %q, want %q", src, got, want)
		}
	}
}

// An artifact that is not the job's own file (a hard link to one of the
// builder's, where the kernel allows it) is refused, never uploaded.
func TestArtifactsAreTheJobsOwnFiles(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	const jobUID = 65534
	ws, err := executor.NewWorkspace(t.TempDir(), &farm.Job{ID: farm.NewID(time.Now()), Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(ws.ArtifactsDir, "mine.txt")
	os.WriteFile(mine, []byte("built"), 0o644)
	for _, p := range []string{ws.Dir, ws.ArtifactsDir, mine} {
		os.Chown(p, jobUID, jobUID)
	}
	if arts, err := ws.Artifacts(); err != nil || len(arts) != 1 {
		t.Fatalf("the job's own artifact: %+v, %v", arts, err)
	}
	secret := filepath.Join(t.TempDir(), "builder-secret")
	os.WriteFile(secret, []byte("token"), 0o600)
	if err := os.Link(secret, filepath.Join(ws.ArtifactsDir, "stolen")); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Artifacts(); err == nil || !strings.Contains(err.Error(), "stolen is not the job's own file") {
		t.Fatalf("a hard link to the builder's file: %v", err)
	}
}
