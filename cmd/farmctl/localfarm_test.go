package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// The emulator is started only by a test that asks for it (the local farm
// test below); the fake-farm tests never need it.
func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// startLocalFarm runs the whole farm in process against the emulator, with
// one local builder for the default pool.
func startLocalFarm(t *testing.T) *wiring.Local {
	t.Helper()
	top, cfg, _ := emulatortest.Topology(t, farm.DefaultPool)
	logger := slog.New(slog.DiscardHandler)
	lf, err := wiring.StartLocal(context.Background(), wiring.LocalConfig{
		Addr:           "127.0.0.1:0",
		AWS:            &cfg,
		Farm:           wiring.Config{Topology: top, Policy: farm.Policy{Heartbeat: time.Second}},
		ReaperInterval: 200 * time.Millisecond,
		Builders:       1,
		BuilderWorkDir: t.TempDir(),
		Logger:         logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lf.Stop)
	return lf
}

// farmctl against the real local farm: a script job submitted and waited
// for, read back in both formats, listed, and the farm's queue and builders.
func TestAgainstTheLocalFarm(t *testing.T) {
	t.Parallel()
	lf := startLocalFarm(t)
	env := map[string]string{"FARM_API": lf.URL, "FARM_TOKEN": lf.AdminToken}
	farmctl := func(args ...string) result {
		t.Helper()
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		a := newApp(ctx, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
		a.pollMax = 500 * time.Millisecond
		return result{code: a.run(args), stdout: stdout.String(), stderr: stderr.String()}
	}

	got := farmctl("run-script", "echo hello from farmctl", "--wait", "--logs", "--idempotency-key", "farmctl-e2e")
	if got.code != exitOK || !strings.Contains(got.stdout, "status:") || !strings.Contains(got.stdout, "hello from farmctl\n") {
		t.Fatalf("run-script --wait: exit %d\nstdout:\n%s\nstderr:\n%s", got.code, got.stdout, got.stderr)
	}
	first := "\n" + squeeze(got.stdout)

	// The same key again is the same job, and -q prints only its ID.
	got = farmctl("run-script", "echo hello from farmctl", "-q", "--idempotency-key", "farmctl-e2e")
	id := strings.TrimSpace(got.stdout)
	if got.code != exitOK || len(id) != 26 || !strings.Contains(first, "\nid: "+id+"\n") {
		t.Fatalf("run-script -q: exit %d %q %s", got.code, got.stdout, got.stderr)
	}

	got = farmctl("jobs", "get", id, "--output", "json")
	var job farm.Job
	if got.code != exitOK || json.Unmarshal([]byte(got.stdout), &job) != nil || job.ID != id || job.Status != farm.StatusSucceeded || job.Type != farm.TypeScript {
		t.Fatalf("jobs get: exit %d %s %s", got.code, got.stdout, got.stderr)
	}

	got = farmctl("jobs", "list", "--all", "--limit", "1", "--status", "succeeded")
	if got.code != exitOK || !strings.Contains(got.stdout, id) {
		t.Fatalf("jobs list: exit %d %s %s", got.code, got.stdout, got.stderr)
	}
	got = farmctl("jobs", "events", id)
	if got.code != exitOK || !strings.Contains(got.stdout, "succeeded") {
		t.Fatalf("jobs events: exit %d %s %s", got.code, got.stdout, got.stderr)
	}
	got = farmctl("jobs", "log", id)
	if got.code != exitOK || !strings.Contains(got.stdout, "hello from farmctl") {
		t.Fatalf("jobs log: exit %d %q %s", got.code, got.stdout, got.stderr)
	}

	// A failing script: --wait exits with the script's own status.
	got = farmctl("run-script", "exit 3", "--wait")
	if got.code != 3 || !strings.Contains(got.stderr, " failed") {
		t.Fatalf("failing run-script: exit %d %s %s", got.code, got.stdout, got.stderr)
	}

	// An artifact a job uploads downloads byte for byte, checked against its sha256.
	// (The job writes it itself: jobs may run as another user, who cannot read the test's files.)
	var want strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&want, "line %d of the artifact\n", i)
	}
	blob := []byte(want.String())
	got = farmctl("run-script", `mkdir -p "$FARM_ARTIFACTS_DIR/out" && i=0 && while [ $i -lt 10000 ]; do echo "line $i of the artifact"; i=$((i+1)); done > "$FARM_ARTIFACTS_DIR/out/blob.bin"`, "--wait", "-q")
	artifactJob := strings.TrimSpace(got.stdout)
	if got.code != exitOK {
		t.Fatalf("artifact job: exit %d %s %s", got.code, got.stdout, got.stderr)
	}
	got = farmctl("artifacts", "list", artifactJob)
	sum := sha256.Sum256(blob)
	if got.code != exitOK || !strings.Contains(squeeze(got.stdout), fmt.Sprintf("out/blob.bin 1 %d %s", len(blob), hex.EncodeToString(sum[:]))) {
		t.Fatalf("artifacts list: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	dst := filepath.Join(t.TempDir(), "downloaded.bin")
	if got = farmctl("artifacts", "get", artifactJob, "out/blob.bin", "-o", dst); got.code != exitOK {
		t.Fatalf("artifacts get: exit %d %s", got.code, got.stderr)
	}
	if downloaded, err := os.ReadFile(dst); err != nil || !bytes.Equal(downloaded, blob) {
		t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(downloaded), err, len(blob))
	}

	// A cancelled job: its own exit code (130).
	got = farmctl("run-script", "sleep 60", "-q")
	sleeper := strings.TrimSpace(got.stdout)
	if got = farmctl("jobs", "cancel", sleeper); got.code != exitOK {
		t.Fatalf("cancel: exit %d %s", got.code, got.stderr)
	}
	if got = farmctl("jobs", "wait", sleeper, "-q"); got.code != exitJobCancelled {
		t.Fatalf("wait for a cancelled job: exit %d %s", got.code, got.stderr)
	}
	// The farm refuses to retry a succeeded job: exit 1 with its code.
	got = farmctl("jobs", "retry", id)
	if got.code != exitError || !strings.HasPrefix(got.stderr, "error: conflict: ") || !strings.Contains(got.stderr, "(request ") {
		t.Fatalf("retry of a succeeded job: exit %d %s", got.code, got.stderr)
	}

	for _, args := range [][]string{{"queue"}, {"builders", "list"}, {"health"}} {
		if got = farmctl(args...); got.code != exitOK || got.stdout == "" {
			t.Fatalf("%v: exit %d %s %s", args, got.code, got.stdout, got.stderr)
		}
	}
	if got = farmctl("builders", "list"); !strings.Contains(got.stdout, "local-1") {
		t.Fatalf("builders list:\n%s", got.stdout)
	}

	// A resource pool: acquire, an empty pool's none_free, release through a
	// clean-resource job that a builder runs, then free again.
	for _, args := range [][]string{
		{"pools", "put", "ppas", "--description", "test PPAs", "--clean-script", "echo cleaning"},
		{"pools", "add-resource", "ppas", "ppa-1", "--attr", "series=noble"},
	} {
		if got = farmctl(args...); got.code != exitOK {
			t.Fatalf("%v: exit %d %s", args, got.code, got.stderr)
		}
	}
	got = farmctl("pools", "acquire", "ppas", "--holder", "e2e", "-o", "json")
	var acquired apiv1.AcquireResponse
	if got.code != exitOK || json.Unmarshal([]byte(got.stdout), &acquired) != nil || acquired.LeaseToken == "" {
		t.Fatalf("pools acquire: exit %d %s %s", got.code, got.stdout, got.stderr)
	}
	if got = farmctl("pools", "acquire", "ppas", "--holder", "e2e-2"); got.code != exitError || !strings.HasPrefix(got.stderr, "error: none_free: ") {
		t.Fatalf("acquire from an empty pool: exit %d %s", got.code, got.stderr)
	}
	got = farmctl("pools", "release", "ppas", "ppa-1", "--lease-token", acquired.LeaseToken, "-o", "json")
	var released farm.Resource
	if got.code != exitOK || json.Unmarshal([]byte(got.stdout), &released) != nil || released.State != farm.ResourceDirty || released.CleanJobID == "" {
		t.Fatalf("pools release: exit %d %s %s", got.code, got.stdout, got.stderr)
	}
	if got = farmctl("jobs", "wait", released.CleanJobID, "-q"); got.code != exitOK {
		t.Fatalf("jobs wait for the clean job: exit %d %s", got.code, got.stderr)
	}
	if got = farmctl("pools", "get", "ppas"); got.code != exitOK || !strings.Contains(squeeze(got.stdout), "\nppa-1 free ") {
		t.Fatalf("pools get after cleaning: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}

	// A submitter token from tokens create works for submitting.
	got = farmctl("tokens", "create", "--role", "submitter", "--name", "e2e", "--output", "json")
	var tok struct{ Token string }
	if got.code != exitOK || json.Unmarshal([]byte(got.stdout), &tok) != nil || tok.Token == "" {
		t.Fatalf("tokens create: exit %d %s %s", got.code, got.stdout, got.stderr)
	}
	env["FARM_TOKEN"] = tok.Token
	if got = farmctl("submit", "--type", "script", "--payload", `{"script":"true"}`, "-q"); got.code != exitOK {
		t.Fatalf("submit as a submitter: exit %d %s", got.code, got.stderr)
	}
	if got = farmctl("tokens", "create", "--role", "admin"); got.code != exitError || !strings.HasPrefix(got.stderr, "error: forbidden: ") {
		t.Fatalf("a submitter made a token: exit %d %s", got.code, got.stderr)
	}
}
