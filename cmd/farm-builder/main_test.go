package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// binary is farm-builder built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "farm-builder-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "farm-builder")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const hangGuard = 30 * time.Second

// miniFarm serves one script job to one builder and records its completion.
type miniFarm struct {
	mu         sync.Mutex
	job        *farm.Job
	claimed    bool
	completion *apiv1.CompleteRequest
	draining   bool
	auth       string
}

func newMiniFarm(t *testing.T, script string) (*miniFarm, *httptest.Server) {
	payload, _ := json.Marshal(farm.ScriptArgs{Script: script})
	f := &miniFarm{job: &farm.Job{ID: farm.NewID(time.Now()), Type: farm.TypeScript, Payload: payload, TimeoutSeconds: 300, Attempts: 1}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/builders/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth = r.Header.Get("Authorization")
		f.mu.Unlock()
		// No doorbell queues: the builder finds work by claiming now and then.
		json.NewEncoder(w).Encode(apiv1.BuilderRegistration{Builder: &farm.Builder{Name: r.PathValue("name")}, QueueURLs: map[string]string{}, HeartbeatSeconds: 1, LeaseSeconds: 3})
	})
	mux.HandleFunc("POST /v1/builders/{name}/claim", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.claimed {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.claimed = true
		json.NewEncoder(w).Encode(apiv1.ClaimResponse{Job: f.job, ClaimToken: "tok", LeaseExpiresAt: time.Now().Add(3 * time.Second)})
	})
	mux.HandleFunc("POST /v1/builders/{name}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.HeartbeatRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.draining = f.draining || req.Draining
		f.mu.Unlock()
		json.NewEncoder(w).Encode(apiv1.HeartbeatResponse{HeartbeatSeconds: 1, LeaseSeconds: 3})
	})
	mux.HandleFunc("POST /v1/jobs/{id}/artifacts", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"unavailable","message":"no storage in this test"}}`, http.StatusServiceUnavailable)
	})
	mux.HandleFunc("POST /v1/jobs/{id}/complete", func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CompleteRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.completion = &req
		f.mu.Unlock()
		json.NewEncoder(w).Encode(f.job)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

// startBuilder runs the binary against srv; its exit arrives on the channel.
func startBuilder(t *testing.T, srv *httptest.Server, extra ...string) (*exec.Cmd, <-chan error, *logFile) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--name", "e2e", "--kind", "metal", "--work-dir", t.TempDir(), "--idle-claim", "200ms"}, extra...)...)
	cmd.Env = append(os.Environ(), "FARM_API="+srv.URL, "FARM_TOKEN=builder-secret",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
	logs := &logFile{path: filepath.Join(t.TempDir(), "farm-builder.log")}
	f, err := os.Create(logs.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stderr = f // a file: Wait never waits for a copier
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-waited
		if t.Failed() {
			t.Logf("farm-builder log:\n%s", logs)
		}
	})
	return cmd, exited, logs
}

// logFile is the builder's stderr (its JSON log).
type logFile struct{ path string }

func (l *logFile) String() string {
	b, _ := os.ReadFile(l.path)
	return string(b)
}

func waitForLine(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

func awaitExit(t *testing.T, exited <-chan error, logs *logFile) error {
	t.Helper()
	select {
	case err := <-exited:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("farm-builder did not exit; its log:\n%s", logs)
		return nil
	}
}

func TestSIGTERMDrainsThenExitsZero(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	started, proceed := filepath.Join(dir, "started"), filepath.Join(dir, "proceed")
	f, srv := newMiniFarm(t, fmt.Sprintf(`echo yes > %q; while [ ! -f %q ]; do sleep 0.05; done; echo finished`, started, proceed))
	cmd, exited, logs := startBuilder(t, srv)
	waitForLine(t, started)
	cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(hangGuard)
	for {
		f.mu.Lock()
		draining := f.draining
		f.mu.Unlock()
		if draining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no draining heartbeat; log:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(proceed, nil, 0o644)
	if err := awaitExit(t, exited, logs); err != nil {
		t.Fatalf("exit after drain: %v; log:\n%s", err, logs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.completion == nil || f.completion.Result != "succeeded" || f.completion.ClaimToken != "tok" {
		t.Fatalf("completion %+v; log:\n%s", f.completion, logs)
	}
	if f.auth != "Bearer builder-secret" {
		t.Fatalf("registered with Authorization %q", f.auth)
	}
	if !strings.Contains(logs.String(), `"msg":"drained: every job finished"`) {
		t.Errorf("JSON log lacks the drain:\n%s", logs)
	}
}

func TestSecondSignalStopsHard(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	f, srv := newMiniFarm(t, fmt.Sprintf(`trap '' TERM; sleep 1000 & echo $! > %q; wait; wait`, pidFile))
	// A grace far beyond the hang guard: only the hard stop's SIGKILL ends the job.
	cmd, exited, logs := startBuilder(t, srv, "--kill-grace", "1h")
	pid := waitForLine(t, pidFile)
	cmd.Process.Signal(syscall.SIGTERM) // drain: the job keeps running
	cmd.Process.Signal(syscall.SIGINT)  // hard stop
	err := awaitExit(t, exited, logs)
	var ee *exec.ExitError
	if err == nil || !asExit(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; log:\n%s", err, logs)
	}
	if _, err := os.Stat("/proc/" + pid); err == nil {
		b, _ := os.ReadFile("/proc/" + pid + "/stat")
		if !strings.Contains(string(b), ") Z") {
			t.Fatalf("the job's process %s survived the hard stop", pid)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.completion != nil {
		t.Fatalf("a hard stop completed the job: %+v", f.completion)
	}
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

func TestConfigErrorExitsTwo(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "--slots", "0")
	cmd.Env = []string{"FARM_API=http://127.0.0.1:1", "FARM_TOKEN=t", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--slots") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}
