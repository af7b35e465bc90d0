package wiring

import (
	"maps"
	"strings"
	"testing"
)

func TestParseDispatchShards(t *testing.T) {
	t.Parallel()
	w, r, err := ParseDispatchShards(" default=4, arm64=1/4 ,,amd64=16")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(w, map[string]int{"default": 4, "arm64": 1, "amd64": 16}) || !maps.Equal(r, map[string]int{"arm64": 4}) {
		t.Fatalf("write %v read %v", w, r)
	}
	if w, r, err := ParseDispatchShards(""); err != nil || len(w) != 0 || len(r) != 0 {
		t.Fatalf("unset: %v %v %v", w, r, err)
	}
	for _, bad := range []string{"default", "default=0", "default=65", "default=x", "=4", "default=4,default=2", "default=4/2", "default=1/0"} {
		if _, _, err := ParseDispatchShards(bad); err == nil || !strings.Contains(err.Error(), EnvDispatchShards) {
			t.Errorf("%q: error %v, want one naming %s", bad, err, EnvDispatchShards)
		}
	}
}

func TestDispatchShardsFromEnv(t *testing.T) {
	t.Setenv(EnvDispatchShards, "default=4,arm64=2/8")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.dispatchShards()
	if err != nil {
		t.Fatal(err)
	}
	if d.Write("default") != 4 || d.Read("arm64") != 8 || d.Write("arm64") != 2 || d.Read("amd64") != 1 {
		t.Fatalf("widths: default %d, arm64 %d/%d, amd64 %d", d.Write("default"), d.Write("arm64"), d.Read("arm64"), d.Read("amd64"))
	}
	t.Setenv(EnvDispatchShards, "gpu=4")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Fatalf("a pool the farm does not serve: %v", err)
	}
}
