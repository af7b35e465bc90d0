package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/executor"
	"github.com/buildfarm/buildfarm/shared/farm"
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

func TestScriptTimeoutKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, 200*time.Millisecond)
	task, ws, _ := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `sleep 1000 & echo $! > grandchild.pid; wait`}, 1)
	done := run(context.Background(), set, task)
	pid := waitForFile(t, filepath.Join(ws.Dir, "grandchild.pid"))
	out := await(t, done)
	if out.Result != farm.StatusFailed || !out.TimedOut || !strings.Contains(out.Error, "timeout") || out.ExitCode != nil {
		t.Fatalf("outcome %+v", out)
	}
	waitGone(t, pid)
}

func TestCancelKillsGrandchildren(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, 5*time.Second)
	task, ws, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `sh -c 'sleep 1000 & echo $! > grandchild.pid; wait'`}, 3600)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := run(ctx, set, task)
	pid := waitForFile(t, filepath.Join(ws.Dir, "grandchild.pid"))
	cause := errors.New("cancelled by the farm")
	cancel(cause)
	out := await(t, done)
	if out.Result != farm.StatusCancelled || !errors.Is(out.Stopped, cause) || out.TimedOut {
		t.Fatalf("outcome %+v", out)
	}
	waitGone(t, pid)
	if !strings.Contains(log.String(), "stopping: cancelled by the farm") {
		t.Errorf("log does not say why the job stopped:\n%s", log)
	}
}

func TestStopEscalatesToSIGKILLAfterGrace(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, 300*time.Millisecond)
	// The script and its child ignore SIGTERM: only SIGKILL ends them.
	task, ws, log := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `trap '' TERM; sleep 1000 & echo $! > child.pid; wait; wait`}, 3600)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, set, task)
	pid := waitForFile(t, filepath.Join(ws.Dir, "child.pid"))
	cancel()
	out := await(t, done)
	if out.Result != farm.StatusCancelled {
		t.Fatalf("outcome %+v", out)
	}
	waitGone(t, pid)
	if !strings.Contains(log.String(), "SIGKILL") {
		t.Errorf("log does not mention the SIGKILL:\n%s", log)
	}
}

func TestKillSkipsTheGracePeriod(t *testing.T) {
	t.Parallel()
	// A grace period far longer than the hang guard: only Kill can end this job in time.
	set := newSet(t, nil, time.Hour)
	task, ws, _ := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `trap '' TERM; sleep 1000 & echo $! > child.pid; wait; wait`}, 3600)
	kill := make(chan struct{})
	task.Kill = kill
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, set, task)
	pid := waitForFile(t, filepath.Join(ws.Dir, "child.pid"))
	cancel() // graceful stop begins: SIGTERM, ignored
	close(kill)
	out := await(t, done)
	if out.Result != farm.StatusCancelled {
		t.Fatalf("outcome %+v", out)
	}
	waitGone(t, pid)
}

func TestLeftoverBackgroundProcessesDieWithTheJob(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, time.Second)
	// The script exits at once but leaves a process holding its output open.
	task, ws, _ := newTask(t, farm.TypeScript, farm.ScriptArgs{Script: `sleep 1000 & echo $! > leftover.pid; echo done`}, 3600)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v", out)
	}
	waitGone(t, waitForFile(t, filepath.Join(ws.Dir, "leftover.pid")))
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

func TestBuilderEnvDropsFarmConfiguration(t *testing.T) {
	t.Setenv("FARM_TOKEN", "s3cret")
	t.Setenv("FARM_API", "http://farm")
	t.Setenv("SOMETHING_ELSE", "kept")
	env := strings.Join(executor.BuilderEnv(), "\n")
	if strings.Contains(env, "s3cret") || strings.Contains(env, "FARM_API") || !strings.Contains(env, "SOMETHING_ELSE=kept") {
		t.Fatalf("builder env:\n%s", env)
	}
}
