package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/buildfarm/buildfarm/infra/stack"
)

// asApp makes the test binary run main() instead of the tests. jsii captures
// the environment for its node process when Go packages initialize, so the
// CLI's environment (CDK_OUTDIR, CDK_CONTEXT_JSON) can only be given to a
// fresh process: the tests below re-execute this binary as the app, which is
// exactly what `cdk synth` does with `go run ./infra`.
const asApp = "BUILDFARM_INFRA_TEST_RUN_APP"

func TestMain(m *testing.M) {
	if os.Getenv(asApp) == "1" {
		main() // calls jsii.Close and exits non-zero on error
		os.Exit(0)
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// runApp runs main() in a child process with cwd dir and the CLI's environment.
func runApp(t *testing.T, dir, outdir, context string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), asApp+"=1", "CDK_OUTDIR="+outdir, "CDK_CONTEXT_JSON="+context,
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func fakeRepo(t *testing.T, withBootstraps bool) string {
	t.Helper()
	dir := t.TempDir()
	if !withBootstraps {
		return dir
	}
	for _, n := range stack.FunctionNames {
		fn := filepath.Join(dir, "dist", "functions", n)
		if err := os.MkdirAll(fn, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fn, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Synthesizes the app as `cdk synth` does (cwd = repository root, context and
// outdir from the environment) and checks the cloud assembly. infra/farm.json
// names the prefix and pools; the context's pools win over the file's.
func TestSynthesizesTheAppOffline(t *testing.T) {
	t.Parallel()
	repo, outdir := fakeRepo(t, true), filepath.Join(t.TempDir(), "cdk.out")
	if err := os.MkdirAll(filepath.Join(repo, "infra"), 0o755); err != nil {
		t.Fatal(err)
	}
	farmJSON := `{"prefix":"lab","pools":["gpu","default"]}`
	if err := os.WriteFile(filepath.Join(repo, "infra", "farm.json"), []byte(farmJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runApp(t, repo, outdir, `{"pools":"default,arm64"}`); err != nil {
		t.Fatalf("app failed: %v\n%s", err, out)
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type       string `json:"type"`
			Properties struct {
				TemplateFile string `json:"templateFile"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	readJSON(t, filepath.Join(outdir, "manifest.json"), &manifest)
	st, ok := manifest.Artifacts["lab"]
	if !ok || st.Type != "aws:cloudformation:stack" {
		t.Fatalf("no stack named after farm.json's prefix in the assembly: %+v", manifest.Artifacts)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	readJSON(t, filepath.Join(outdir, st.Properties.TemplateFile), &tpl)
	queues := map[string]bool{}
	for _, r := range tpl.Resources {
		if r.Type == "AWS::SQS::Queue" {
			if n, ok := r.Properties["QueueName"].(string); ok {
				queues[n] = true
			}
		}
	}
	for _, want := range []string{"lab-pool-default", "lab-pool-arm64-dlq", "lab-ingest", "lab-ingest-dlq"} {
		if !queues[want] {
			t.Errorf("no queue %s in %v", want, queues)
		}
	}
	if queues["lab-pool-gpu"] {
		t.Error("farm.json's pools used although the context sets pools")
	}
	if _, err := os.Stat(filepath.Join(outdir, "AwsSolutions-lab-NagReport.csv")); err != nil {
		t.Errorf("cdk-nag report: %v", err)
	}
}

func TestMissingBootstrapFailsWithInstructions(t *testing.T) {
	t.Parallel()
	out, err := runApp(t, fakeRepo(t, false), filepath.Join(t.TempDir(), "cdk.out"), `{}`)
	if err == nil || !strings.Contains(out, "scripts/build-functions") {
		t.Fatalf("err = %v, output:\n%s\nwant a failure telling to run scripts/build-functions", err, out)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
