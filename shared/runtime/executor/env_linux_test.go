package executor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func splitFields(s string) []string { return strings.Fields(s) }

func TestDedupEnvKeepsTheLastValueInFirstOrder(t *testing.T) {
	t.Parallel()
	got := dedupEnv([]string{"A=1", "B=2", "A=3", "C=", "B=4"})
	if want := []string{"A=3", "B=4", "C="}; !reflect.DeepEqual(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

func TestLookPathInTheJobsPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "data"), []byte("x"), 0o644)
	if p, err := lookPathIn("tool", "/nonexistent:"+bin, "/"); err != nil || p != filepath.Join(bin, "tool") {
		t.Fatalf("tool: %q %v", p, err)
	}
	if p, err := lookPathIn("tool", "bin", dir); err != nil || p != "bin/tool" {
		t.Fatalf("a relative PATH entry is relative to the work dir: %q %v", p, err)
	}
	if _, err := lookPathIn("data", bin, "/"); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("a file that is not executable: %v", err)
	}
	if p, _ := lookPathIn("./x/y", "", "/"); p != "./x/y" {
		t.Fatalf("a path with a slash is used as is: %q", p)
	}
	if v := envValue([]string{"PATH=/a", "X=1", "PATH=/b"}, "PATH"); v != "/b" {
		t.Fatalf("envValue: %q", v)
	}
}
