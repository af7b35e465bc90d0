package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/executor"
)

func TestBuildTypesWithoutACommandFailClearly(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, time.Second)
	for _, typ := range []string{farm.TypeBinaryBuild, farm.TypeLiveImageBuild, farm.TypeRecipeBuild, "some-new-type"} {
		task, _, log := newTask(t, typ, map[string]string{"package": "hello"}, 60)
		out := await(t, run(context.Background(), set, task))
		want := "no executor configured for " + typ
		if out.Result != farm.StatusFailed || !strings.Contains(out.Error, want) || !strings.Contains(log.String(), want) {
			t.Errorf("%s: outcome %+v, log %q", typ, out, log)
		}
	}
}

func TestCommandGetsPayloadOnStdinAndJobEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "build.sh")
	body := `#!/bin/sh
echo "stdin=$(cat)"
for v in FARM_JOB_ID FARM_JOB_TYPE FARM_ATTEMPT FARM_WORK_DIR FARM_ARTIFACTS_DIR FARM_SOURCE_URL FARM_SOURCE_FILE MIRROR; do
	echo "$v=$(printenv $v)"
done
echo "payload file=$(cat "$FARM_PAYLOAD_FILE")"
echo "arg=$1"
echo deb > "$FARM_ARTIFACTS_DIR/hello_1.0_amd64.deb"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "executors.json")
	if err := os.WriteFile(cfgFile, []byte(`{"binary-build": {"command": ["./build.sh", "--fast"], "env": {"MIRROR": "http://mirror"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := executor.LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	set := newSet(t, cfg, time.Second)
	task, ws, log := newTask(t, farm.TypeBinaryBuild, map[string]string{"package": "hello"}, 60)
	task.SourceURL = "http://s3.invalid/src"
	task.SourceFile = filepath.Join(ws.Dir, "hello.tar.gz")
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusSucceeded {
		t.Fatalf("outcome %+v\n%s", out, log)
	}
	got := log.String()
	for _, want := range []string{
		`stdin={"package":"hello"}`,
		"FARM_JOB_ID=" + task.Job.ID + "\n",
		"FARM_JOB_TYPE=binary-build\n",
		"FARM_ATTEMPT=1\n",
		"FARM_WORK_DIR=" + ws.Dir + "\n",
		"FARM_ARTIFACTS_DIR=" + ws.ArtifactsDir + "\n",
		"FARM_SOURCE_URL=http://s3.invalid/src\n",
		"FARM_SOURCE_FILE=" + task.SourceFile + "\n",
		`payload file={"package":"hello"}`,
		"MIRROR=http://mirror\n",
		"arg=--fast\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if arts, _ := ws.Artifacts(); len(arts) != 1 || arts[0].Name != "hello_1.0_amd64.deb" {
		t.Errorf("artifacts %+v", arts)
	}
}

func TestCommandThatCannotStartFails(t *testing.T) {
	t.Parallel()
	set := newSet(t, executor.Config{farm.TypeRecipeBuild: {Command: []string{"/nonexistent/recipe-builder"}}}, time.Second)
	task, _, _ := newTask(t, farm.TypeRecipeBuild, map[string]string{"branch": "main"}, 60)
	if out := await(t, run(context.Background(), set, task)); out.Result != farm.StatusFailed || !strings.Contains(out.Error, "start") {
		t.Fatalf("outcome %+v", out)
	}
}

func TestCleanResource(t *testing.T) {
	t.Parallel()
	set := newSet(t, nil, time.Second)

	task, _, log := newTask(t, farm.TypeCleanResource, farm.CleanResourceArgs{ResourcePool: "ppas", Resource: "ppa-1"}, 60)
	out := await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusSucceeded || !strings.Contains(log.String(), "nothing to clean") {
		t.Fatalf("no clean script: %+v, log %q", out, log)
	}

	task, _, log = newTask(t, farm.TypeCleanResource, farm.CleanResourceArgs{
		ResourcePool: "ppas", Resource: "ppa-2", CleanScript: `echo "wiping $FARM_RESOURCE of $FARM_RESOURCE_POOL"; exit 1`,
	}, 60)
	out = await(t, run(context.Background(), set, task))
	if out.Result != farm.StatusFailed || out.ExitCode == nil || *out.ExitCode != 1 || !strings.Contains(log.String(), "wiping ppa-2 of ppas") {
		t.Fatalf("failing clean script: %+v, log %q", out, log)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "executors.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := executor.LoadConfig(write(`{"binary-build": {"command": ["./bin/build", "-v"]}, "recipe-build": {"command": ["recipe-builder"]}, "script": {"command": ["/usr/bin/in-container"], "kill_grace_seconds": 3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg["binary-build"].Command; got[0] != filepath.Join(dir, "bin/build") || got[1] != "-v" {
		t.Errorf("relative command not resolved against the file: %v", got)
	}
	if got := cfg["recipe-build"].Command[0]; got != "recipe-builder" {
		t.Errorf("a bare name must stay a PATH lookup: %q", got)
	}
	if cfg["script"].KillGraceSeconds != 3 {
		t.Errorf("script override %+v", cfg["script"])
	}
	for _, bad := range []string{
		`{"binary-build": {"comand": ["x"]}}`,
		`{"binary-build": {"command": []}}`,
		`{"binary-build": {"command": ["x"], "kill_grace_seconds": -1}}`,
		`{"Binary Build": {"command": ["x"]}}`,
		`[1]`,
	} {
		if _, err := executor.LoadConfig(write(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if _, err := executor.LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("accepted a missing file")
	}
}
