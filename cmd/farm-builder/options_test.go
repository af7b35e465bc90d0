package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/runtime/agent"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var offEC2 = discovery{
	hostname: func() (string, error) { return "Build-01.example.com", nil },
	lookupEC2: func(context.Context) (agent.EC2Identity, error) {
		return agent.EC2Identity{}, errors.New("no metadata service")
	},
}

var onEC2 = discovery{
	hostname: func() (string, error) { return "ip-10-0-0-1.ec2.internal", nil },
	lookupEC2: func(context.Context) (agent.EC2Identity, error) {
		return agent.EC2Identity{InstanceID: "i-0abc", InstanceType: "m7g.large", Region: "eu-west-1"}, nil
	},
}

func TestDefaultsOffEC2(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"--api", "https://farm:8080", "--token", "t"}, envOf(nil), offEC2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := farm.BuilderSpec{Kind: farm.KindMetal, Arch: runtime.GOARCH, Pools: []string{"default"}, Slots: 1}
	if !reflect.DeepEqual(o.agent.Spec, want) || o.agent.Name != "build-01" {
		t.Fatalf("name %q spec %+v", o.agent.Name, o.agent.Spec)
	}
	if o.killGrace != 10*time.Second || o.agent.IdleClaimInterval != time.Minute || o.logLevel != slog.LevelInfo || o.ec2 != nil || o.agent.KeepWorkDirs {
		t.Fatalf("options %+v", o)
	}
}

func TestOnEC2TheInstanceNamesTheBuilder(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"--api", "https://farm", "--token", "t"}, envOf(nil), onEC2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.agent.Name != "i-0abc" || o.agent.Spec.Kind != farm.KindEC2 || o.agent.Spec.Metadata["instance_type"] != "m7g.large" || o.ec2 == nil {
		t.Fatalf("name %q spec %+v", o.agent.Name, o.agent.Spec)
	}
	// An explicit metal builder never asks the metadata service.
	asked := false
	d := onEC2
	d.lookupEC2 = func(ctx context.Context) (agent.EC2Identity, error) { asked = true; return onEC2.lookupEC2(ctx) }
	o, err = parseOptions([]string{"--api", "https://farm", "--token", "t", "--kind", "metal"}, envOf(nil), d, io.Discard)
	if err != nil || asked || o.agent.Spec.Kind != farm.KindMetal || o.agent.Spec.Metadata != nil {
		t.Fatalf("metal: asked=%v %+v %v", asked, o, err)
	}
}

func TestEC2MetadataDemandedButMissingIsAnError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--ec2-metadata"}, {"--kind", "ec2"}} {
		_, err := parseOptions(append([]string{"--api", "https://farm", "--token", "t"}, args...), envOf(nil), offEC2, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "no metadata service") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestEnvironmentAndFlagsWin(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"FARM_API": "https://env-farm", "FARM_TOKEN": "env-token", "FARM_BUILDER": "env-builder",
		"FARM_POOLS": "amd64, amd64-metal", "FARM_SLOTS": "3", "FARM_KIND": "metal", "FARM_ARCH": "arm64",
		"FARM_CAPABILITIES": "kvm,docker", "FARM_WORK_DIR": "/var/lib/farm", "FARM_EXECUTORS": "/etc/farm/executors.json",
		"FARM_KEEP_WORK_DIRS": "true", "FARM_KILL_GRACE": "30s", "FARM_LOG_LEVEL": "debug", "FARM_METADATA": "rack=r1, owner=ops",
	})
	o, err := parseOptions(nil, env, offEC2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.api != "https://env-farm" || o.token != "env-token" || o.agent.Name != "env-builder" || o.executorsFile != "/etc/farm/executors.json" ||
		o.agent.WorkDir != "/var/lib/farm" || !o.agent.KeepWorkDirs || o.killGrace != 30*time.Second || o.logLevel != slog.LevelDebug {
		t.Fatalf("from env: %+v", o)
	}
	want := farm.BuilderSpec{Kind: farm.KindMetal, Arch: "arm64", Pools: []string{"amd64", "amd64-metal"}, Capabilities: []string{"kvm", "docker"}, Slots: 3,
		Metadata: map[string]string{"rack": "r1", "owner": "ops"}}
	if !reflect.DeepEqual(o.agent.Spec, want) {
		t.Fatalf("spec from env %+v", o.agent.Spec)
	}
	o, err = parseOptions([]string{"--api", "https://flag-farm", "--name", "flag-builder", "--pools", "default", "--slots", "2", "--keep-work-dirs=false"}, env, offEC2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.api != "https://flag-farm" || o.token != "env-token" || o.agent.Name != "flag-builder" || o.agent.Spec.Slots != 2 ||
		!reflect.DeepEqual(o.agent.Spec.Pools, []string{"default"}) || o.agent.KeepWorkDirs {
		t.Fatalf("flags must win: %+v", o)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	base := []string{"--api", "https://farm", "--token", "t"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", "t"}, "--api"},
		{[]string{"--api", "https://farm"}, "token is required"},
		{append(base, "--slots", "0"), "--slots"},
		{append(base, "--slots", "many"), "--slots"},
		{append(base, "--kind", "vm"), "--kind"},
		{append(base, "--name", "Not A Name"), "--name"},
		{append(base, "--pools", " , "), "--pools"},
		{append(base, "--kill-grace", "soon"), "--kill-grace"},
		{append(base, "--log-level", "loud"), "--log-level"},
		{append(base, "--metadata", "novalue"), "--metadata"},
		{append(base, "extra"), "unexpected"},
	} {
		if _, err := parseOptions(tc.args, envOf(nil), offEC2, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}

func TestHelpNeverShowsTheToken(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	_, err := parseOptions([]string{"-h"}, envOf(map[string]string{"FARM_TOKEN": "s3cret-token"}), offEC2, &out)
	if !errors.Is(err, errHelp) || strings.Contains(out.String(), "s3cret-token") || !strings.Contains(out.String(), "FARM_TOKEN") {
		t.Fatalf("help (%v):\n%s", err, out.String())
	}
}

func TestBuilderNameFromHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"Build-01.example.com":     "build-01",
		"ip-10-0-0-1.ec2.internal": "ip-10-0-0-1",
		"weird_host!name":          "weird_host-name",
		"...":                      "builder",
		strings.Repeat("x", 60):    strings.Repeat("x", 40),
	} {
		if got := builderName(host); got != want {
			t.Errorf("builderName(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestTokenSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("token", "bft_from_file\n", 0o600)
	loose := write("loose", "bft_loose", 0o644)
	empty := write("empty", "\n", 0o600)
	api := []string{"--api", "https://farm"}

	o, err := parseOptions(append(api, "--token-file", good), envOf(map[string]string{"FARM_TOKEN": "bft_env"}), offEC2, io.Discard)
	if err != nil || o.token != "bft_from_file" || o.tokenFile != good || len(o.warnings) != 0 {
		t.Fatalf("--token-file: %+v, %v", o, err)
	}
	o, err = parseOptions(api, envOf(map[string]string{"FARM_TOKEN_FILE": good}), offEC2, io.Discard)
	if err != nil || o.token != "bft_from_file" || o.tokenFile != good {
		t.Fatalf("FARM_TOKEN_FILE: %+v, %v", o, err)
	}
	o, err = parseOptions(api, envOf(map[string]string{"FARM_TOKEN": "bft_env"}), offEC2, io.Discard)
	if err != nil || o.token != "bft_env" || o.tokenFile != "" || len(o.warnings) != 0 {
		t.Fatalf("FARM_TOKEN: %+v, %v", o, err)
	}
	// On the command line it works, with a loud warning.
	o, err = parseOptions(append(api, "--token", "bft_flag"), envOf(nil), offEC2, io.Discard)
	if err != nil || o.token != "bft_flag" || len(o.warnings) != 1 || !strings.Contains(o.warnings[0], "/proc/<pid>/cmdline") {
		t.Fatalf("--token: %+v, %v", o, err)
	}
	o, err = parseOptions(append(api, "--token-file", loose), envOf(nil), offEC2, io.Discard)
	if err != nil || o.token != "bft_loose" || len(o.warnings) != 1 || !strings.Contains(o.warnings[0], "chmod 0600") {
		t.Fatalf("a token file others can read: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{append(api, "--token", "a", "--token-file", good), nil, "give one"},
		{api, map[string]string{"FARM_TOKEN": "a", "FARM_TOKEN_FILE": good}, "give one"},
		{append(api, "--token-file", empty), nil, "holds no token"},
		{append(api, "--token-file", filepath.Join(dir, "missing")), nil, "no such file"},
		{api, nil, "token is required"},
	} {
		if _, err := parseOptions(tc.args, envOf(tc.env), offEC2, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want an error about %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestJobOptions(t *testing.T) {
	t.Parallel()
	base := []string{"--api", "https://farm", "--token", "t"}
	o, err := parseOptions(base, envOf(nil), offEC2, io.Discard)
	if err != nil || o.jobUser != "farm-job" || o.jobEnv != nil {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	o, err = parseOptions(append(base, "--job-user", "builds"), envOf(map[string]string{"FARM_JOB_ENV": "MAKEFLAGS, GOPROXY"}), offEC2, io.Discard)
	if err != nil || o.jobUser != "builds" || !reflect.DeepEqual(o.jobEnv, []string{"MAKEFLAGS", "GOPROXY"}) {
		t.Fatalf("set: %+v, %v", o, err)
	}
	for _, args := range [][]string{{"--job-env", "FARM_TOKEN"}, {"--job-user", "a/b"}} {
		if _, err := parseOptions(append(base, args...), envOf(nil), offEC2, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// The agent never sends its token over plain http but to loopback.
func TestPlainHTTPAPIIsRefused(t *testing.T) {
	t.Parallel()
	for _, api := range []string{"http://farm.example.com", "http://10.0.0.1:8080"} {
		_, err := parseOptions([]string{"--api", api, "--token", "t"}, envOf(nil), offEC2, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "plain http is allowed to a loopback address only") {
			t.Errorf("%s: %v", api, err)
		}
	}
	for _, api := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "https://farm.example.com"} {
		if _, err := parseOptions([]string{"--api", api, "--token", "t"}, envOf(nil), offEC2, io.Discard); err != nil {
			t.Errorf("%s: %v", api, err)
		}
	}
}
