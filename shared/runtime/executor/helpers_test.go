package executor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(nonRootHelper())
	}
	goleak.VerifyTestMain(m)
}

// hangGuard bounds how long a test waits for something that must happen; it
// is never a performance assertion.
const hangGuard = 30 * time.Second

// logBuffer is a job log tests can read while the job writes it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testEnv is a minimal environment for jobs: reproducible, no FARM_* leaks.
var testEnv = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C"}

func newSet(t *testing.T, cfg executor.Config, grace time.Duration) *executor.Set {
	t.Helper()
	return executor.NewSet(cfg, executor.Options{KillGrace: grace, BaseEnv: testEnv})
}

// newSetWith is newSet with an isolation of the test's choosing.
func newSetWith(t *testing.T, iso *executor.Isolation, grace time.Duration) *executor.Set {
	t.Helper()
	return executor.NewSet(nil, executor.Options{KillGrace: grace, BaseEnv: testEnv, Isolation: iso})
}

// defaultIsolation is the isolation of a Set made without one (as root
// here and in CI: the job user, namespaces and a cgroup).
func defaultIsolation(t *testing.T) *executor.Isolation {
	t.Helper()
	iso, err := executor.DefaultIsolation()
	if err != nil {
		t.Fatal(err)
	}
	return iso
}

// requireRoot skips, loudly, a test of what only a root builder does.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("\n*** %s needs root (CI runs as root): it checks the job user of a root builder", t.Name())
	}
}

// newTask makes a workspace under a temp dir for a job of typ with payload.
func newTask(t *testing.T, typ string, payload any, timeoutSeconds int) (*executor.Task, *executor.Workspace, *logBuffer) {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	job := &farm.Job{ID: farm.NewID(time.Now()), Type: typ, Payload: raw, Attempts: 1, TimeoutSeconds: timeoutSeconds}
	ws, err := executor.NewWorkspace(t.TempDir(), job)
	if err != nil {
		t.Fatal(err)
	}
	log := &logBuffer{}
	return ws.Task(job, "", log, nil), ws, log
}

// run executes task in the background and returns its outcome channel.
func run(ctx context.Context, set *executor.Set, task *executor.Task) <-chan executor.Outcome {
	done := make(chan executor.Outcome, 1)
	go func() { done <- set.Execute(ctx, task) }()
	return done
}

func await(t *testing.T, done <-chan executor.Outcome) executor.Outcome {
	t.Helper()
	select {
	case out := <-done:
		return out
	case <-time.After(hangGuard):
		t.Fatal("the job did not end")
		return executor.Outcome{}
	}
}

// waitForLog waits until the job's log holds want.
func waitForLog(t *testing.T, log *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
