package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestRootBuilderRunsJobsAsTheJobUser(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	iso := defaultIsolation(t)
	if iso.User == nil || iso.User.Name != executor.DefaultJobUser || iso.User.UID == 0 {
		t.Fatalf("default isolation of a root builder: %s", iso)
	}
	set := newSet(t, nil, time.Second)
	task, ws, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `
echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
echo "user=$USER home=$HOME tmp=$TMPDIR"
touch made "$HOME/h" "$TMPDIR/t" && echo "made by $(stat -c %u made)"
echo "workdir mode $(stat -c %a "$FARM_WORK_DIR")"
`}, 60)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v\n%s", out, log)
	}
	u := iso.User
	for _, want := range []string{
		fmt.Sprintf("uid=%d gid=%d groups=%d\n", u.UID, u.GID, u.GID),
		fmt.Sprintf("user=%s home=%s.job/home tmp=%s.job/tmp\n", u.Name, ws.Dir, ws.Dir),
		fmt.Sprintf("made by %d\n", u.UID),
		"workdir mode 700\n",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// HOME, TMPDIR, the payload and the script live beside the work dir,
	// only while the job runs.
	if _, err := os.Stat(ws.Dir + ".job"); !os.IsNotExist(err) {
		t.Errorf("the run's private files outlived it: %v", err)
	}
}

// A job in its namespaces sees its own processes only: not the builder, not
// other jobs, not the host's; and it cannot read or signal its init.
func TestJobSeesOnlyItsOwnProcesses(t *testing.T) {
	t.Parallel()
	if !defaultIsolation(t).Namespaces {
		t.Skip("\n*** no PID namespaces on this machine: the builder warns that jobs see its processes")
	}
	set := newSet(t, nil, time.Second)
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{
		Script: `
echo "processes=$(ls -d /proc/[0-9]* | wc -l)"
for p in /proc/[0-9]*; do echo "cmdline $(tr '\0' ' ' < $p/cmdline)"; done
cat /proc/1/environ >/dev/null 2>&1 && echo READ-INIT-ENVIRON
kill -0 1 2>/dev/null && echo SIGNALLED-INIT
kill -0 "$BUILDER_PID" 2>/dev/null && echo SIGNALLED-BUILDER
cat "/proc/$BUILDER_PID/environ" >/dev/null 2>&1 && echo READ-BUILDER-ENVIRON
true`,
		Env: map[string]string{"BUILDER_PID": strconv.Itoa(os.Getpid())},
	}, 60)
	out := await(t, run(context.Background(), set, task))
	got := log.String()
	if out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v\n%s", out, got)
	}
	for _, bad := range []string{"READ-INIT-ENVIRON", "SIGNALLED-INIT", "SIGNALLED-BUILDER", "READ-BUILDER-ENVIRON", filepath.Base(os.Args[0])} {
		if strings.Contains(got, bad) {
			t.Errorf("the job reached %q:\n%s", bad, got)
		}
	}
	var n int
	fmt.Sscanf(got[strings.Index(got, "processes=")+len("processes="):], "%d", &n)
	if n < 2 || n > 6 {
		t.Errorf("the job saw %d processes, want its init and its own few:\n%s", n, got)
	}
}

// The builder's secrets in its own environment never reach a job: not in
// the job's environment, not through /proc.
func TestBuilderSecretsDoNotReachTheJob(t *testing.T) {
	// Not parallel: it sets the test process's own environment.
	secret := "bft_" + farm.NewSecret(16)
	t.Setenv("FARM_TOKEN", secret)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret+"-aws")
	t.Setenv("SOME_CI_TOKEN", secret+"-ci")
	set := executor.NewSet(nil, executor.Options{KillGrace: time.Second})
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `
env
cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n'
cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n'
cat "/proc/$PPID/environ" 2>/dev/null
true`}, 60)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v\n%s", out, log)
	}
	if strings.Contains(log.String(), secret) {
		t.Fatalf("the job found the builder's secret:\n%s", log)
	}
	if !strings.Contains(log.String(), "FARM_JOB_ID="+task.Job.ID) {
		t.Fatalf("the job's environment was not printed:\n%s", log)
	}
}

// Paths the builder hides (its token file) read empty in the job's mount
// namespace, even where the job user could otherwise read them.
func TestHiddenPathsReadEmpty(t *testing.T) {
	t.Parallel()
	def := defaultIsolation(t)
	if !def.Namespaces {
		t.Skip("\n*** no mount namespaces on this machine: nothing can be hidden")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	secret := "bft_" + farm.NewSecret(16)
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte(secret), 0o644)
	sub := filepath.Join(dir, "secrets")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "other"), []byte(secret), 0o644)
	for name, iso := range map[string]*executor.Isolation{
		"default":         {User: def.User, Namespaces: true, CgroupParent: def.CgroupParent, Hide: []string{file, sub, filepath.Join(dir, "missing")}},
		"user namespaces": {Namespaces: true, UserNamespace: true, Hide: []string{file, sub}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set := newSetWith(t, iso, time.Second)
			task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `cat "$F"; ls "$D"; cat "$D/other"; echo "token size $(wc -c < "$F")"`, Env: map[string]string{"F": file, "D": sub}}, 60)
			await(t, run(context.Background(), set, task))
			if strings.Contains(log.String(), secret) || strings.Contains(log.String(), "other") && !strings.Contains(log.String(), "No such file") || !strings.Contains(log.String(), "token size 0") {
				t.Fatalf("hidden paths were readable:\n%s", log)
			}
		})
	}
	if b, _ := os.ReadFile(file); string(b) != secret {
		t.Fatal("hiding a file in the job's namespace changed it for the builder")
	}
}

// A 200 KiB script (past the kernel's 128 KiB bound on one argument or
// environment string) runs, and the payload reaches it by file.
func TestLargeScriptRuns(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("echo large script starts\n")
	for b.Len() < 200<<10 {
		b.WriteString(": this line pads the script past the size the kernel allows one argument -----\n")
	}
	b.WriteString(`echo "payload bytes $(wc -c < "$FARM_PAYLOAD_FILE")"` + "\nexit 5\n")
	script := b.String()
	isos := killingIsolations(t)
	isos["process group"] = &executor.Isolation{}
	for name, iso := range isos {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set := newSetWith(t, iso, time.Second)
			task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: script}, 60)
			out := await(t, run(context.Background(), set, task))
			if out.Result != farm.StatusFailed || out.ExitCode == nil || *out.ExitCode != 5 {
				t.Fatalf("outcome %+v\n%s", out, log)
			}
			want := fmt.Sprintf("payload bytes %d\n", len(task.Job.Payload))
			if !strings.Contains(log.String(), "large script starts") || !strings.Contains(log.String(), want) {
				t.Fatalf("log lacks %q:\n%s", want, log)
			}
		})
	}
}

// Each job runs in a cgroup of its own under the builder's, removed after.
func TestJobRunsInACgroupOfItsOwn(t *testing.T) {
	t.Parallel()
	iso := defaultIsolation(t)
	if iso.CgroupParent == "" {
		t.Skip("\n*** no usable cgroup v2 here: jobs get no cgroup (the builder warns)")
	}
	set := newSet(t, nil, time.Second)
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `cat /proc/self/cgroup`}, 60)
	if out := await(t, run(context.Background(), set, task)); out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v\n%s", out, log)
	}
	want := "/farm-jobs/job-" + task.Job.ID + "-1-"
	if !strings.Contains(log.String(), want) {
		t.Fatalf("the job's cgroup is not its own (want %q):\n%s", want, log)
	}
	left, _ := filepath.Glob(filepath.Join(iso.CgroupParent, "job-"+task.Job.ID+"-*"))
	if len(left) > 0 {
		t.Fatalf("the job's cgroup outlived it: %v", left)
	}
}

func TestDetectIsolation(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	iso, warnings, err := executor.DetectIsolation(executor.IsolationConfig{NoNamespaces: true, NoCgroup: true})
	if err != nil {
		t.Fatal(err)
	}
	if iso.User == nil || iso.Namespaces || iso.CgroupParent != "" || !strings.Contains(strings.Join(warnings, "\n"), "setsid") {
		t.Fatalf("without namespaces and cgroup: %s, warnings %q", iso, warnings)
	}
	// The weakest fallback still runs jobs as the job user, with exit codes.
	set := newSetWith(t, iso, time.Second)
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `id -u; exit 4`}, 60)
	out := await(t, run(context.Background(), set, task))
	if out.ExitCode == nil || *out.ExitCode != 4 || !strings.Contains(log.String(), strconv.Itoa(iso.User.UID)+"\n") {
		t.Fatalf("outcome %+v\n%s", out, log)
	}

	if _, _, err := executor.DetectIsolation(executor.IsolationConfig{JobUser: "root"}); err == nil || !strings.Contains(err.Error(), "must not run as root") {
		t.Fatalf("root as the job user: %v", err)
	}
	if _, _, err := executor.DetectIsolation(executor.IsolationConfig{JobUser: "no-such-farm-user"}); err == nil || !strings.Contains(err.Error(), "useradd") {
		t.Fatalf("a missing job user, not to be created: %v", err)
	}
}

func TestCommandThatCannotStartFailsUnderEveryIsolation(t *testing.T) {
	t.Parallel()
	isos := killingIsolations(t)
	isos["process group"] = &executor.Isolation{}
	for name, iso := range isos {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set := executor.NewSet(executor.Config{farm.TypeRecipeBuild: {Command: []string{"no-such-recipe-builder"}}},
				executor.Options{KillGrace: time.Second, BaseEnv: testEnv, Isolation: iso})
			task, _, log := newTask(t, farm.TypeRecipeBuild, map[string]string{"branch": "main"}, 60)
			out := await(t, run(context.Background(), set, task))
			if out.Result != farm.StatusFailed || out.ExitCode != nil || !strings.Contains(out.Error, "start no-such-recipe-builder") || !strings.Contains(out.Error, "not found") {
				t.Fatalf("outcome %+v\n%s", out, log)
			}
			// A job killed by a signal reports it, with no exit code.
			task, _, log = newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `kill -9 $$`}, 60)
			out = await(t, run(context.Background(), set, task))
			if out.Result != farm.StatusFailed || out.ExitCode != nil || out.Error != "signal: killed" {
				t.Fatalf("killed job: %+v\n%s", out, log)
			}
		})
	}
}

// helperEnv runs the test binary as nonRootHelper: a builder that is not root.
const helperEnv = "EXECUTOR_TEST_NONROOT_HELPER"

// nonRootReport is what the helper tells the test.
type nonRootReport struct {
	Isolation     string
	Namespaces    bool
	UserNamespace bool
	Warnings      []string
	Outcome       executor.Outcome
	Log           string
	Err           string
}

// nonRootHelper is a builder that is not root: it detects its isolation
// (hiding its token file) and runs one hostile job in HELPER_WORK.
func nonRootHelper() int {
	rep := nonRootReport{}
	defer func() { json.NewEncoder(os.Stdout).Encode(rep) }()
	iso, warnings, err := executor.DetectIsolation(executor.IsolationConfig{Hide: []string{os.Getenv("HELPER_SECRET")}})
	if err != nil {
		rep.Err = err.Error()
		return 0
	}
	rep.Isolation, rep.Namespaces, rep.UserNamespace, rep.Warnings = iso.String(), iso.Namespaces, iso.UserNamespace, warnings
	payload, _ := json.Marshal(farm.ScriptArgs{
		Script: `echo "uid=$(id -u)"; cat "$SECRET" 2>&1; echo
kill -0 "$BUILDER_PID" 2>/dev/null && echo SIGNALLED-BUILDER
cat "/proc/$BUILDER_PID/environ" 2>/dev/null | tr '\0' '\n'
` + escapeScript,
		Env: map[string]string{markerVar: os.Getenv("HELPER_MARKER"), "SECRET": os.Getenv("HELPER_SECRET"), "BUILDER_PID": strconv.Itoa(os.Getpid())},
	})
	job := &farm.Job{ID: farm.NewID(time.Now()), Type: farm.TypeScript, Payload: payload, Attempts: 1, TimeoutSeconds: 60}
	ws, err := executor.NewWorkspace(os.Getenv("HELPER_WORK"), job)
	if err != nil {
		rep.Err = err.Error()
		return 0
	}
	log := &logBuffer{}
	set := executor.NewSet(nil, executor.Options{KillGrace: time.Second, Isolation: iso})
	rep.Outcome = set.Execute(context.Background(), ws.Task(job, "", log, nil))
	rep.Log = log.String()
	return 0
}

// A builder that is not root warns, and still keeps its jobs from its token
// file, its environment and its signals, and kills what they leave behind,
// through unprivileged user namespaces where the kernel allows them.
func TestNonRootBuilder(t *testing.T) {
	t.Parallel()
	requireRoot(t) // to become another user
	const nobody = 65534
	bin := filepath.Join(t.TempDir(), "executor.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	home := t.TempDir()
	for _, d := range []string{home, filepath.Dir(home)} {
		os.Chmod(d, 0o755)
	}
	os.Chown(home, nobody, nobody)
	secretFile := filepath.Join(home, "token")
	secret := "bft_" + farm.NewSecret(16)
	os.WriteFile(secretFile, []byte(secret), 0o600)
	os.Chown(secretFile, nobody, nobody)
	work := filepath.Join(home, "work")
	os.Mkdir(work, 0o700)
	os.Chown(work, nobody, nobody)
	marker := newMarker()

	cmd := exec.Command(bin)
	c := cmd
	cmd.Env = []string{helperEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"HELPER_WORK=" + work, "HELPER_SECRET=" + secretFile, "HELPER_MARKER=" + marker, "FARM_TOKEN=" + secret}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	// A fork elsewhere in this test binary may still hold the copy open for
	// writing for an instant (golang.org/issue/22315): try again.
	for i := 0; errors.Is(err, syscall.ETXTBSY) && i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		cmd = exec.Command(bin)
		cmd.Env, cmd.SysProcAttr, cmd.Stderr = c.Env, c.SysProcAttr, os.Stderr
		raw, err = cmd.Output()
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, raw)
	}
	var rep nonRootReport
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Err != "" {
		t.Fatalf("helper report %q: %v %s", raw, err, rep.Err)
	}
	t.Logf("a builder as uid %d: %s; warnings: %q", nobody, rep.Isolation, rep.Warnings)
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "NOT RUNNING AS ROOT") {
		t.Errorf("no loud warning: %q", rep.Warnings)
	}
	if rep.Outcome.Result != farm.StatusSucceeded || !strings.Contains(rep.Log, "escaped") || !strings.Contains(rep.Log, "uid=65534\n") {
		t.Fatalf("the job did not run: %+v\n%s", rep.Outcome, rep.Log)
	}
	if !rep.UserNamespace {
		// The fallback of last resort: said loudly, and no more promised.
		if !strings.Contains(strings.Join(rep.Warnings, "\n"), "process group only") {
			t.Errorf("no warning about the process-group fallback: %q", rep.Warnings)
		}
		t.Skipf("\n*** unprivileged user namespaces are not allowed here: a builder that is not root isolates its jobs by process group only")
	}
	for _, bad := range []string{secret, "SIGNALLED-BUILDER"} {
		if strings.Contains(rep.Log, bad) {
			t.Errorf("the job reached %q:\n%s", bad, rep.Log)
		}
	}
	waitNoneMarked(t, marker)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// A descriptor the builder holds without close-on-exec (inherited from a
// shell or a service manager) never reaches a job.
func TestInheritedDescriptorsDoNotReachTheJob(t *testing.T) {
	t.Parallel()
	if !defaultIsolation(t).Namespaces {
		t.Skip("\n*** no namespaces here: jobs start straight from the builder")
	}
	secret := "bft_" + farm.NewSecret(16)
	path := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(path, []byte(secret), 0o600)
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	set := newSet(t, nil, time.Second)
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `ls -l /proc/$$/fd; for f in /proc/$$/fd/*; do cat "$f" 2>/dev/null; done; true`}, 60)
	if out := await(t, run(context.Background(), set, task)); out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v\n%s", out, log)
	}
	if strings.Contains(log.String(), secret) || strings.Contains(log.String(), path) {
		t.Fatalf("the job read the builder's descriptor %d:\n%s", fd, log)
	}
}
