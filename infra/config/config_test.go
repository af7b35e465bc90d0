package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
)

func ctx(m map[string]any) Getter {
	return func(k string) any { return m[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(ctx(map[string]any{"config": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != topology.DefaultPrefix || !slices.Equal(c.Pools, topology.DefaultPools) {
		t.Errorf("prefix/pools = %q %v", c.Prefix, c.Pools)
	}
	if c.StackName != "buildfarm" || c.BuilderAsg || !c.RetainData || c.OldestQueuedAlarmSecs != 900 {
		t.Errorf("unexpected defaults %+v", c)
	}
	if !slices.Equal(c.BuilderPools, []string{"amd64", "arm64", "default"}) {
		t.Errorf("builder pools default to every pool, got %v", c.BuilderPools)
	}
}

func TestContextOverridesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "farm.json")
	body := `{"prefix":"ci","pools":["x86","gpu"],"logRetentionDays":90,"builderAsg":true,"builderNames":"b1,b2"}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ctx(map[string]any{"config": file, "pools": "gpu, arm", "oldestQueuedJobAgeAlarmSeconds": "600", "retainData": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "ci" || !slices.Equal(c.Pools, []string{"gpu", "arm"}) || c.LogRetentionDays != 90 {
		t.Errorf("file/context layering wrong: %+v", c)
	}
	if c.OldestQueuedAlarmSecs != 600 || c.RetainData || !c.BuilderAsg || !slices.Equal(c.BuilderNames, []string{"b1", "b2"}) {
		t.Errorf("typed values wrong: %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknown, []byte(`{"pool":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"missing explicit file", map[string]any{"config": filepath.Join(dir, "nope.json")}, "no such file"},
		{"unknown file key", map[string]any{"config": unknown}, `unknown key "pool"`},
		{"bad prefix", map[string]any{"prefix": "Bad_Prefix"}, "prefix"},
		{"bad pool", map[string]any{"pools": "ok,NOT OK"}, "pool"},
		{"retention", map[string]any{"logRetentionDays": 8}, "logRetentionDays"},
		{"not a number", map[string]any{"apiThrottleRate": "fast"}, "apiThrottleRate"},
		{"zero", map[string]any{"artifactsExpireDays": 0}, "artifactsExpireDays"},
		{"arch", map[string]any{"lambdaArch": "riscv"}, "lambdaArch"},
		{"builder pool", map[string]any{"builderPools": "gpu"}, "builderPools"},
		{"builder names", map[string]any{"builderAsg": true, "builderNames": "a,a"}, "builderNames"},
		{"email", map[string]any{"alarmEmail": "ops"}, "alarmEmail"},
		{"bool", map[string]any{"builderAsg": "maybe"}, "builderAsg"},
		{"unknown index", map[string]any{"deferIndexes": "by-nothing"}, "deferIndexes"},
		{"the dispatch index", map[string]any{"deferIndexes": "by-pool-queue"}, "deferIndexes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]any{"config": ""}
			for k, v := range tc.ctx {
				m[k] = v
			}
			_, err := Load(ctx(m))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestKeysMatchJSONTags(t *testing.T) {
	t.Parallel()
	var tags []string
	rt := reflect.TypeFor[Config]()
	for i := range rt.NumField() {
		tags = append(tags, rt.Field(i).Tag.Get("json"))
	}
	slices.Sort(tags)
	got := slices.Sorted(slices.Values(keys()))
	if !slices.Equal(tags, got) {
		t.Errorf("keys() = %v, json tags = %v", got, tags)
	}
}

func TestEveryKeyIsRead(t *testing.T) {
	t.Parallel()
	var asked []string
	c := Defaults()
	if err := applyContext(&c, func(k string) any { asked = append(asked, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(asked)
	if want := slices.Sorted(slices.Values(keys())); !slices.Equal(asked, want) {
		t.Errorf("applyContext reads %v, keys() = %v", asked, want)
	}
}

func TestExampleFileIsValid(t *testing.T) {
	t.Parallel()
	c, err := Load(ctx(map[string]any{"config": "../farm.example.json"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "buildfarm" || len(c.Pools) != 3 {
		t.Errorf("example config %+v", c)
	}
}
