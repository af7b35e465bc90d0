package executor_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

// TestDemoBinaryBuildExecutor runs the demo executor configuration in
// examples/executors on its sample C project, as a builder would after a
// claim (source downloaded from a presigned URL), without any farm.
func TestDemoBinaryBuildExecutor(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"cc", "make", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("\n*** %s is not installed: the demo binary-build (a C project built with make) cannot run here", tool)
		}
	}
	examples := filepath.Join("..", "..", "..", "examples", "executors")
	cfg, err := executor.LoadConfig(filepath.Join(examples, "executors.json"))
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "hello-1.0.tar.gz")
	if out, err := exec.Command(filepath.Join(examples, "make-sample-tarball.sh"), filepath.Dir(tarball)).CombinedOutput(); err != nil {
		t.Fatalf("make-sample-tarball.sh: %v\n%s", err, out)
	}
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, tarball) }))
	t.Cleanup(s3.Close)
	hc := s3.Client()
	t.Cleanup(hc.CloseIdleConnections)

	job := &farm.Job{
		ID: farm.NewID(time.Now()), Type: farm.TypeBinaryBuild, Attempts: 1, TimeoutSeconds: 300,
		Payload: []byte(`{"source":"s3://farm/incoming/binary-build/hello-1.0.tar.gz","arch":"amd64"}`),
	}
	ws, err := executor.NewWorkspace(t.TempDir(), job)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.FetchSource(context.Background(), hc, job, s3.URL+"/presigned"); err != nil {
		t.Fatal(err)
	}
	log := &logBuffer{}
	set := executor.NewSet(cfg, executor.Options{KillGrace: time.Second})
	out := await(t, run(context.Background(), set, ws.Task(job, s3.URL+"/presigned", log, nil)))
	if out.Result != farm.StatusSucceeded {
		t.Fatalf("demo build: %+v\nlog:\n%s", out, log)
	}
	arts, err := ws.Artifacts()
	if err != nil || len(arts) != 1 || !strings.HasPrefix(arts[0].Name, "hello-1.0_") || !strings.HasSuffix(arts[0].Name, ".tar.gz") {
		t.Fatalf("artifacts %+v, %v\nlog:\n%s", arts, err, log)
	}
	// The artifact holds a program that runs.
	bin := extract(t, arts[0].Path, "./usr/bin/hello")
	got, err := exec.Command(bin).Output()
	if err != nil || string(got) != "hello from the farm\n" {
		t.Fatalf("built program said %q, %v", got, err)
	}
}

// extract copies one file out of a .tar.gz into a temp dir and returns its path.
func extract(t *testing.T, tarball, name string) string {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in %s: %v", name, tarball, err)
		}
		if h.Name != name {
			continue
		}
		dst := filepath.Join(t.TempDir(), filepath.Base(name))
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
		return dst
	}
}
