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

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/proctest"
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
	log        strings.Builder // the job's log, from heartbeats and completion
	job        *farm.Job
	claimed    bool
	completion *apiv1.CompleteRequest
	draining   bool
	auth       string
}

func newMiniFarm(t *testing.T, script string) (*miniFarm, *httptest.Server) {
	return newMiniFarmEnv(t, script, nil)
}

func newMiniFarmEnv(t *testing.T, script string, env map[string]string) (*miniFarm, *httptest.Server) {
	payload, _ := json.Marshal(farm.ScriptArgs{Script: script, Env: env})
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
		for _, j := range req.Jobs {
			f.log.WriteString(j.Log)
		}
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
		f.log.WriteString(req.Log)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(f.job)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

// builderToken is the token of every agent these tests start, in a file
// only root reads.
const builderToken = "builder-secret"

// tokenFile writes the builder token the way the install paths do: mode
// 0600 in a directory only its owner reads.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startBuilder runs the binary against srv; its exit arrives on the channel.
func startBuilder(t *testing.T, srv *httptest.Server, extra ...string) (*exec.Cmd, <-chan error, *logFile) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--name", "e2e", "--kind", "metal", "--work-dir", t.TempDir(), "--idle-claim", "200ms"}, extra...)...)
	cmd.Env = append(os.Environ(), "FARM_API="+srv.URL, "FARM_TOKEN_FILE="+tokenFile(t, builderToken),
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
	dir := proctest.SharedDir(t)
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
	if f.auth != "Bearer "+builderToken {
		t.Fatalf("registered with Authorization %q", f.auth)
	}
	if !strings.Contains(logs.String(), `"msg":"drained: every job finished"`) {
		t.Errorf("JSON log lacks the drain:\n%s", logs)
	}
}

func TestSecondSignalStopsHard(t *testing.T) {
	t.Parallel()
	marker := proctest.NewMarker()
	f, srv := newMiniFarmEnv(t, `trap '' TERM; sleep 1000 & wait; wait`, proctest.Env(marker))
	// A grace far beyond the hang guard: only the hard stop's SIGKILL ends the job.
	cmd, exited, logs := startBuilder(t, srv, "--kill-grace", "1h")
	proctest.WaitAtLeast(t, marker, 2, hangGuard, logs.String)
	cmd.Process.Signal(syscall.SIGTERM) // drain: the job keeps running
	cmd.Process.Signal(syscall.SIGINT)  // hard stop
	err := awaitExit(t, exited, logs)
	var ee *exec.ExitError
	if err == nil || !asExit(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; log:\n%s", err, logs)
	}
	proctest.WaitNone(t, marker, hangGuard)
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

// A job of a real agent hunts for the agent's token where a hostile job
// would: its environment, every process it can see, the token file, the
// agent's work dir. It finds nothing, and cannot signal its parent. (The
// end-to-end version, against the real API, is in shared/e2e.)
func TestJobCannotFindTheAgentsToken(t *testing.T) {
	t.Parallel()
	token := "bft_" + farm.NewSecret(20)
	file := tokenFile(t, token)
	work := t.TempDir()
	f, srv := newMiniFarmEnv(t, `
env
for p in /proc/[0-9]*; do tr '\0' '\n' < $p/environ; tr '\0' ' ' < $p/cmdline; echo; done 2>/dev/null
cat "$TOKEN_FILE" 2>&1
ls -la "$(dirname "$TOKEN_FILE")" "$AGENT_WORK" 2>&1
cat "$AGENT_WORK"/*.log 2>&1
cat "/proc/$PPID/environ" 2>/dev/null | tr '\0' '\n'
kill -0 "$PPID" 2>/dev/null && echo "SIGNALLED-PARENT $(tr '\0' ' ' < /proc/$PPID/cmdline)"
echo hunt over`, map[string]string{"TOKEN_FILE": file, "AGENT_WORK": work})
	cmd, exited, logs := startBuilder(t, srv, "--token-file", file, "--work-dir", work)
	deadline := time.Now().Add(hangGuard)
	for {
		f.mu.Lock()
		done := f.completion != nil
		f.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job never completed; log:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := awaitExit(t, exited, logs); err != nil {
		t.Fatalf("exit: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.log.String()
	if f.completion.Result != "succeeded" || !strings.Contains(got, "hunt over") {
		t.Fatalf("completion %+v\n%s", f.completion, got)
	}
	if strings.Contains(got, token) || strings.Contains(got, "SIGNALLED-PARENT") {
		t.Fatalf("the job reached the agent's token or signals:\n%s", got)
	}
	if f.auth != "Bearer "+token {
		t.Fatalf("the agent registered with %q", f.auth)
	}
}
