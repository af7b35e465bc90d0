package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDispatchShardsFromFileAndContext(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "farm.json")
	if err := os.WriteFile(file, []byte(`{"dispatchShards":{"default":4,"arm64":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ctx(map[string]any{"config": file}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DispatchShards != "arm64=2,default=4" {
		t.Errorf("from the file: %q", c.DispatchShards)
	}
	c, err = Load(ctx(map[string]any{"config": file, "dispatchShards": "default=1/4"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DispatchShards != "default=1/4" {
		t.Errorf("context over file: %q", c.DispatchShards)
	}
}
