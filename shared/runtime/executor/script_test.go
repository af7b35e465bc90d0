package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestScriptSucceedsInItsWorkDirWithEnv(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, time.Second)
	task, ws, log := newTask(t, farm.TypeScript, farm.ScriptArgs{
		Script: `echo "cwd=$(pwd)"; echo "greeting=$GREETING"; echo "job=$FARM_JOB_ID attempt=$FARM_ATTEMPT type=$FARM_JOB_TYPE"; echo err >&2; echo built > "$FARM_ARTIFACTS_DIR/out.txt"`,
		Env:    map[string]string{"GREETING": "hi", "FARM_JOB_ID": "overridden?"},
	}, 60)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusSucceeded || out.ExitCode == nil || *out.ExitCode != 0 || out.Error != "" {
		t.Fatalf("outcome %+v\nlog:\n%s", out, log)
	}
	got := log.String()
	for _, want := range []string{"cwd=" + ws.Dir + "\n", "greeting=hi\n", "job=" + task.Job.ID + " attempt=1 type=script\n", "err\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	arts, err := ws.Artifacts()
	if err != nil || len(arts) != 1 || arts[0].Name != "out.txt" || arts[0].Size != 6 {
		t.Fatalf("artifacts %+v, %v", arts, err)
	}
}

func TestScriptFailureReportsExitCode(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, time.Second)
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: "echo about to fail; exit 3"}, 60)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusFailed || out.ExitCode == nil || *out.ExitCode != 3 || out.Error != "exit status 3" || out.TimedOut {
		t.Fatalf("outcome %+v", out)
	}
	if !strings.Contains(log.String(), "about to fail\n") {
		t.Fatalf("log %q", log)
	}
}

// The isolations whose promise is that everything a job starts dies with
// it: the default (as root: job user, namespaces, cgroup), namespaces alone,
// a cgroup alone, and the unprivileged user namespaces of a builder that is
// not root (here set up by root, which the kernel treats alike).
func killingIsolations(t *testing.T) map[string]*executor.Isolation {
	t.Helper()
	def := defaultIsolation(t)
	out := map[string]*executor.Isolation{"default": def}
	if def.Namespaces {
		out["namespaces only"] = &executor.Isolation{Namespaces: true}
		out["user namespaces"] = &executor.Isolation{Namespaces: true, UserNamespace: true}
	}
	if def.CgroupParent != "" {
		out["cgroup only"] = &executor.Isolation{User: def.User, CgroupParent: def.CgroupParent}
	}
	return out
}

// A job whose processes escape with setsid, nohup and double forks loses
// all of them when it ends by itself, is cancelled, or times out.
func TestEscapedProcessesDieWithTheJob(t *testing.T) {
	t.Parallel()
	for name, iso := range killingIsolations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Logf("isolation: %s", iso)
			set := newSetWith(t, iso, 300*time.Millisecond)
			for _, ending := range []string{"ends", "cancelled", "timed out"} {
				t.Run(ending, func(t *testing.T) {
					t.Parallel()
					marker := newMarker()
					script := escapeScript + `while [ ! -e "$FARM_WORK_DIR/go" ]; do sleep 0.05; done; echo main done`
					timeout := 3600
					if ending == "timed out" {
						script, timeout = escapeScript+"sleep 1000", 3
					}
					task, ws, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: script, Env: map[string]string{markerVar: marker}}, timeout)
					ctx, cancel := context.WithCancelCause(context.Background())
					defer cancel(nil)
					done := run(ctx, set, task)
					if ending != "timed out" {
						// (A timed-out job may end before the test looks: its
						// log says the escapees were started.)
						waitForLog(t, log, "escaped\n")
						waitMarked(t, marker, 5, log)
					}
					switch ending {
					case "ends":
						os.WriteFile(filepath.Join(ws.Dir, "go"), nil, 0o644)
					case "cancelled":
						cancel(errors.New("cancelled by the farm"))
					}
					out := await(t, done)
					switch ending {
					case "ends":
						if out.Result != farm.StatusSucceeded || !strings.Contains(log.String(), "main done") {
							t.Fatalf("outcome %+v\n%s", out, log)
						}
					case "cancelled":
						if out.Result != farm.StatusCancelled || out.TimedOut {
							t.Fatalf("outcome %+v\n%s", out, log)
						}
					case "timed out":
						if out.Result != farm.StatusFailed || !out.TimedOut || !strings.Contains(out.Error, "timeout") || out.ExitCode != nil || !strings.Contains(log.String(), "escaped\n") {
							t.Fatalf("outcome %+v\n%s", out, log)
						}
					}
					waitNoneMarked(t, marker)
				})
			}
		})
	}
}

func TestScriptTimeoutKillsTheJob(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, 200*time.Millisecond)
	marker := newMarker()
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `sleep 1000 & echo started; wait`, Env: map[string]string{markerVar: marker}}, 1)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusFailed || !out.TimedOut || !strings.Contains(out.Error, "timeout") || out.ExitCode != nil || !strings.Contains(log.String(), "started\n") {
		t.Fatalf("outcome %+v\n%s", out, log)
	}
	waitNoneMarked(t, marker)
}

func TestCancelKillsGrandchildren(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, 5*time.Second)
	marker := newMarker()
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `sh -c 'sleep 1000 & wait'`, Env: map[string]string{markerVar: marker}}, 3600)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := run(ctx, set, task)
	waitMarked(t, marker, 3, log)
	cause := errors.New("cancelled by the farm")
	cancel(cause)
	out := await(t, done)
	if out.Result != farm.StatusCancelled || !errors.Is(out.Stopped, cause) || out.TimedOut {
		t.Fatalf("outcome %+v", out)
	}
	waitNoneMarked(t, marker)
	if !strings.Contains(log.String(), "stopping: cancelled by the farm") {
		t.Errorf("log does not say why the job stopped:\n%s", log)
	}
}

// The grace period holds for every isolation: SIGTERM reaches the job (a
// trap runs), and SIGKILL follows for what ignores it.
func TestStopGivesGraceThenSIGKILL(t *testing.T) {
	t.Parallel()
	isos := killingIsolations(t)
	isos["process group"] = &executor.Isolation{}
	for name, iso := range isos {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A script that handles SIGTERM ends by itself within the grace
			// period (a long one: a busy machine is slow, not wrong).
			marker := newMarker()
			task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `trap 'echo got TERM; exit 7' TERM; sleep 1000 & wait`, Env: map[string]string{markerVar: marker}}, 3600)
			ctx, cancel := context.WithCancel(context.Background())
			done := run(ctx, newSetWith(t, iso, hangGuard/2), task)
			waitMarked(t, marker, 2, log)
			cancel()
			if out := await(t, done); out.Result != farm.StatusCancelled || !strings.Contains(log.String(), "got TERM") || strings.Contains(log.String(), "after SIGTERM: SIGKILL") {
				t.Fatalf("outcome %+v\n%s", out, log)
			}
			waitNoneMarked(t, marker)

			// The script and its child ignore SIGTERM: only SIGKILL ends them.
			marker = newMarker()
			task, _, log = newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `trap '' TERM; sleep 1000 & wait; wait`, Env: map[string]string{markerVar: marker}}, 3600)
			ctx, cancel = context.WithCancel(context.Background())
			done = run(ctx, newSetWith(t, iso, 300*time.Millisecond), task)
			waitMarked(t, marker, 2, log)
			cancel()
			if out := await(t, done); out.Result != farm.StatusCancelled {
				t.Fatalf("outcome %+v", out)
			}
			waitNoneMarked(t, marker)
			if !strings.Contains(log.String(), "after SIGTERM: SIGKILL") {
				t.Errorf("log does not mention the SIGKILL:\n%s", log)
			}
		})
	}
}

func TestKillSkipsTheGracePeriod(t *testing.T) {
	t.Parallel()
	// A grace period far longer than the hang guard: only Kill can end this job in time.
	set := newSet(t, nil, time.Hour)
	marker := newMarker()
	task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `trap '' TERM; sleep 1000 & wait; wait`, Env: map[string]string{markerVar: marker}}, 3600)
	kill := make(chan struct{})
	task.Kill = kill
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, set, task)
	waitMarked(t, marker, 2, log)
	cancel() // graceful stop begins: SIGTERM, ignored
	close(kill)
	out := await(t, done)
	if out.Result != farm.StatusCancelled {
		t.Fatalf("outcome %+v", out)
	}
	waitNoneMarked(t, marker)
}

// Without namespaces or a cgroup (a builder that has neither) a job still
// loses what it left running in its process group when it ends.
func TestLeftoverBackgroundProcessesDieWithTheJob(t *testing.T) {
	t.Parallel()
	isos := killingIsolations(t)
	isos["process group"] = &executor.Isolation{}
	for name, iso := range isos {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set := newSetWith(t, iso, time.Second)
			marker := newMarker()
			// The script exits at once but leaves a process holding its output open.
			task, _, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `sleep 1000 & echo done`, Env: map[string]string{markerVar: marker}}, 3600)
			out := await(t, run(context.Background(), set, task))
			if out.Result != farm.StatusSucceeded || !strings.Contains(log.String(), "done\n") {
				t.Fatalf("outcome %+v\n%s", out, log)
			}
			waitNoneMarked(t, marker)
		})
	}
}

func TestScriptWithoutInlineScriptRunsItsSource(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, time.Second)
	task, ws, log := newTask(t, farm.TypeScript, map[string]string{"source": "s3://bucket/incoming/script/job.sh"}, 60)
	src := filepath.Join(ws.Dir, "job.sh")
	if err := os.WriteFile(src, []byte("echo from the source file\nexit 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task.SourceFile = src
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusFailed || out.ExitCode == nil || *out.ExitCode != 4 || !strings.Contains(log.String(), "from the source file") {
		t.Fatalf("outcome %+v\n%s", out, log)
	}

	task, _, _ = newTask(t, farm.TypeScript, map[string]string{}, 60)
	if out := await(t, run(context.Background(), set, task)); out.Result != farm.StatusFailed || !strings.Contains(out.Error, "no script") {
		t.Fatalf("no script, no source: %+v", out)
	}
}

func TestBuilderEnvPassesOnlyItsAllowlist(t *testing.T) {
	t.Setenv("FARM_TOKEN", "s3cret")
	t.Setenv("FARM_API", "http://farm")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-s3cret")
	t.Setenv("GITHUB_TOKEN", "gh-s3cret")
	t.Setenv("LC_TIME", "C")
	t.Setenv("TZ", "UTC")
	t.Setenv("MAKEFLAGS", "-j2")
	env := "\n" + strings.Join(executor.BuilderEnv(), "\n") + "\n"
	for _, secret := range []string{"s3cret", "FARM_API", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "MAKEFLAGS"} {
		if strings.Contains(env, secret) {
			t.Errorf("a job would inherit %s:%s", secret, env)
		}
	}
	for _, want := range []string{"\nLC_TIME=C\n", "\nTZ=UTC\n", "\nPATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("builder env lacks %q:%s", want, env)
		}
	}
	// An operator may pass more by name (farm-builder --job-env), never FARM_*.
	env = strings.Join(executor.BuilderEnv("MAKEFLAGS", "FARM_TOKEN"), "\n")
	if !strings.Contains(env, "MAKEFLAGS=-j2") || strings.Contains(env, "s3cret") {
		t.Errorf("builder env with extra names:\n%s", env)
	}
	t.Setenv("PATH", "")
	if env := executor.BuilderEnv(); !slices.Contains(env, "PATH="+executor.DefaultPath) {
		t.Errorf("no PATH: %v", env)
	}
}
