package main

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestGlobalSettings(t *testing.T) {
	t.Parallel()
	health := map[string][]reply{"GET /v1/health": {ok(`{"status":"ok"}`)}}
	t.Run("--api before the command wins over FARM_API", func(t *testing.T) {
		t.Parallel()
		f := newFakeFarm(t, health)
		got := runFarmctl(t, nil, map[string]string{"FARM_API": "http://127.0.0.1:1"}, "", "--api", f.srv.URL+"/v1/", "health")
		if got.code != exitOK || len(f.requests()) != 1 {
			t.Fatalf("exit %d, %d requests, stderr %s", got.code, len(f.requests()), got.stderr)
		}
	})
	t.Run("--token after the command wins over FARM_TOKEN", func(t *testing.T) {
		t.Parallel()
		f := newFakeFarm(t, health)
		got := runFarmctl(t, f, nil, "", "health", "--token=other")
		if got.code != exitOK {
			t.Fatalf("exit %d: %s", got.code, got.stderr)
		}
		if auth := f.requests()[0].Auth; auth != "Bearer other" {
			t.Fatalf("Authorization %q", auth)
		}
	})
	t.Run("no token, no Authorization; the farm's 401 is exit 1", func(t *testing.T) {
		t.Parallel()
		f := newFakeFarm(t, map[string][]reply{"GET /v1/queue": {apiError(http.StatusUnauthorized, "unauthorized", "a token is required")}})
		got := runFarmctl(t, f, map[string]string{"FARM_TOKEN": ""}, "", "queue")
		if got.code != exitError || got.stderr != "error: unauthorized: a token is required (request req-42)\n" {
			t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
		}
		if auth := f.requests()[0].Auth; auth != "" {
			t.Fatalf("Authorization %q without a token", auth)
		}
	})
	t.Run("the default farm is 127.0.0.1:8080", func(t *testing.T) {
		t.Parallel()
		a := newApp(t.Context(), nil, io.Discard, io.Discard, func(string) string { return "" })
		if err := a.connect(); err != nil {
			t.Fatal(err)
		}
		if got := a.client.BaseURL(); got != defaultAPI {
			t.Fatalf("base URL %q", got)
		}
	})
	t.Run("a farm that does not answer is exit 1", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		got := runFarmctl(t, nil, map[string]string{"FARM_API": url}, "", "health")
		if got.code != exitError || !strings.HasPrefix(got.stderr, "error: GET /v1/health: ") || !strings.Contains(got.stderr, "connect") {
			t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
		}
	})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdoutHas  []string
		stderrHas  []string
		stdoutLack string
	}{
		{"no command", nil, nil, exitUsage, nil, []string{"farmctl: missing command\nusage: farmctl submit|run-script|jobs|artifacts|queue|builders|tokens|pools|health|version ..."}, ""},
		{"unknown command", []string{"frob"}, nil, exitUsage, nil, []string{`farmctl: unknown command "frob"`}, ""},
		{"unknown global flag", []string{"--frob", "health"}, nil, exitUsage, nil, []string{"flag provided but not defined: -frob"}, ""},
		{"group without a command", []string{"jobs"}, nil, exitUsage, nil, []string{"farmctl jobs: missing command\nusage: farmctl jobs list|get|events|log|wait|cancel|retry|score ..."}, ""},
		{"unknown command of a group", []string{"pools", "drain"}, nil, exitUsage, nil, []string{`farmctl pools: unknown command "drain"`}, ""},
		{"too many arguments", []string{"jobs", "get", "a", "b"}, nil, exitUsage, nil, []string{`farmctl jobs get: unexpected arguments ["b"]`, "usage: farmctl jobs get ID"}, ""},
		{"bad --output", []string{"queue", "--output", "yaml"}, nil, exitUsage, nil, []string{`--output must be table or json, not "yaml"`}, ""},
		{"bad FARM_OUTPUT", []string{"queue"}, map[string]string{"FARM_OUTPUT": "xml"}, exitUsage, nil, []string{`--output must be table or json, not "xml"`}, ""},
		{"bad --api", []string{"queue", "--api", "ftp://farm"}, nil, exitUsage, nil, []string{"farmctl queue: --api: farm URL \"ftp://farm\""}, ""},
		{"-h", []string{"-h"}, nil, exitOK, []string{"usage: farmctl [--api URL]", "run-script", "global flags"}, nil, ""},
		{"help", []string{"help"}, nil, exitOK, []string{"usage: farmctl [--api URL]"}, nil, ""},
		{"help of a group", []string{"help", "pools"}, nil, exitOK, []string{"usage: farmctl pools COMMAND", "add-resource"}, nil, ""},
		{"help of a command", []string{"help", "jobs", "list"}, nil, exitOK, []string{"usage: farmctl jobs list [--status S]", "-all", "-limit N"}, nil, ""},
		{"-h of a group", []string{"jobs", "-h"}, nil, exitOK, []string{"usage: farmctl jobs COMMAND", "wait"}, nil, ""},
		{"-h of a command", []string{"builders", "disable", "-h"}, nil, exitOK, []string{"usage: farmctl builders disable NAME --reason REASON", "-reason REASON"}, nil, ""},
		{"help never shows a token", []string{"--token", "s3cret", "jobs", "get", "--token", "s3cret", "-h"}, map[string]string{"FARM_TOKEN": "s3cret"}, exitOK, []string{"-token TOKEN"}, nil, "s3cret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := runFarmctl(t, nil, tc.env, "", tc.args...)
			if got.code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", got.code, tc.code, got.stderr)
			}
			for _, s := range tc.stdoutHas {
				if !strings.Contains(got.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, got.stdout)
				}
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, got.stderr)
				}
			}
			if tc.stdoutLack != "" && strings.Contains(got.stdout+got.stderr, tc.stdoutLack) {
				t.Errorf("output shows %q:\n%s%s", tc.stdoutLack, got.stdout, got.stderr)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		positional []string
		reason     string
		all        bool
		err        string
	}{
		{"flags after names", []string{"b1", "--reason", "broken disk"}, []string{"b1"}, "broken disk", false, ""},
		{"flags before and between", []string{"--all", "a", "-reason=x", "b"}, []string{"a", "b"}, "x", true, ""},
		{"-- ends the flags", []string{"a", "--", "--all", "-x"}, []string{"a", "--all", "-x"}, "", false, ""},
		{"a negative number is an argument", []string{"01J", "-5"}, []string{"01J", "-5"}, "", false, ""},
		{"a flag's value may look like a flag", []string{"--reason", "--all"}, nil, "--all", false, ""},
		{"- is an argument (stdin)", []string{"-"}, []string{"-"}, "", false, ""},
		{"a flag without its value", []string{"a", "--reason"}, nil, "", false, "flag needs an argument: -reason"},
		{"an unknown flag", []string{"--nope"}, nil, "", false, "flag provided but not defined: -nope"},
	}
	for _, tc := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		reason := fs.String("reason", "", "")
		all := fs.Bool("all", false, "")
		got, err := parseArgs(fs, tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.positional) || *reason != tc.reason || *all != tc.all {
			t.Errorf("%s: %q reason %q all %v err %v", tc.name, got, *reason, *all, err)
		}
	}
}
