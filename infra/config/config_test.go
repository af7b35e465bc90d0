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
	body := `{"prefix":"ci","pools":["x86","gpu"],"logRetentionDays":90,"builderNames":"b1,b2"}`
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
	if c.OldestQueuedAlarmSecs != 600 || c.RetainData || c.BuilderAsg || !slices.Equal(c.BuilderNames, []string{"b1", "b2"}) {
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
		{"artifacts before their jobs", map[string]any{"artifactsExpireDays": 30}, "artifactsExpireDays"},
		{"no job retention", map[string]any{"jobRetentionDays": 0}, "jobRetentionDays"},
		{"arch", map[string]any{"lambdaArch": "riscv"}, "lambdaArch"},
		{"builder pool", map[string]any{"builderPools": "gpu"}, "builderPools"},
		{"builderAsg is replaced by the fleet", map[string]any{"builderAsg": true, "builderNames": "a"}, "Migrating from builderAsg"},
		{"fleet without a certificate", map[string]any{"fleet": `{"default":{"instanceTypes":["t4g.small"],"max":2}}`}, "instanceIdentityCertificate"},
		{"fleet of an unknown pool", map[string]any{"fleet": `{"gpu":{"instanceTypes":["g5.xlarge"],"max":2}}`, "instanceIdentityCertificate": testCert}, "pool \"gpu\""},
		{"fleet min over max", map[string]any{"fleet": `{"default":{"instanceTypes":["t4g.small"],"min":3,"max":2}}`, "instanceIdentityCertificate": testCert}, "min (3) <= max (2)"},
		{"ephemeral fleet with slots", map[string]any{"fleet": `{"default":{"instanceTypes":["t4g.small"],"max":2,"slots":2,"ephemeral":true}}`, "instanceIdentityCertificate": testCert}, "slots must be 1"},
		{"fleet unknown field", map[string]any{"fleet": `{"default":{"instanceType":"t4g.small","max":2}}`, "instanceIdentityCertificate": testCert}, "unknown field"},
		{"fleet arch", map[string]any{"fleet": `{"default":{"instanceTypes":["t4g.small"],"max":2,"arch":"riscv"}}`, "instanceIdentityCertificate": testCert}, "arch"},
		{"email", map[string]any{"alarmEmail": "ops"}, "alarmEmail"},
		{"bool", map[string]any{"builderAsg": "maybe"}, "builderAsg"},
		{"unknown index", map[string]any{"deferIndexes": "by-nothing"}, "deferIndexes"},
		{"the dispatch index", map[string]any{"deferIndexes": "by-pool-queue"}, "deferIndexes"},
		{"dispatch shards of an unknown pool", map[string]any{"dispatchShards": "gpu=4"}, `dispatchShards names "gpu"`},
		{"dispatch shards out of range", map[string]any{"dispatchShards": "default=0"}, "dispatchShards"},
		{"dispatch shards not a map", map[string]any{"dispatchShards": 4.0}, "dispatchShards"},
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

const testCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestFleet(t *testing.T) {
	t.Parallel()
	c, err := Load(ctx(map[string]any{"config": "", "prefix": "ci", "instanceIdentityCertificate": testCert,
		"fleet": `{"default":{"instanceTypes":["t4g.medium","c7g.large"],"spot":true,"max":10,"slots":2},"amd64":{"arch":"x86_64","instanceTypes":["c7i.large"],"min":1,"max":3,"ephemeral":true,"idleMinutes":5}}`}))
	if err != nil {
		t.Fatal(err)
	}
	fc := c.FleetConfig()
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	amd, ok := fc.Pool("amd64")
	if !ok || amd.Group != "ci-amd64" || amd.Min != 1 || amd.Max != 3 || amd.Slots != 1 || !amd.Ephemeral || amd.IdleSeconds != 300 {
		t.Fatalf("amd64 %+v", amd)
	}
	def, _ := fc.Pool("default")
	if def.Max != 10 || def.Slots != 2 || def.IdleSeconds != 600 || fc.TokenSeconds != 3600 {
		t.Fatalf("default %+v (token %d)", def, fc.TokenSeconds)
	}
	if c.Fleet[1].Arch != "arm64" || c.Fleet[1].VolumeGiB != 30 {
		t.Fatalf("defaults %+v", c.Fleet[1])
	}
}

// Logs and artifacts never expire before the jobs that point at them.
func TestObjectsOutliveTheJobsThatPointAtThem(t *testing.T) {
	t.Parallel()
	c, err := Load(ctx(map[string]any{"config": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if c.JobRetentionDays != 90 || c.LogsExpireDays != 97 || c.ArtifactsExpireDays != 97 {
		t.Errorf("defaults: jobs %d days, logs %d, artifacts %d", c.JobRetentionDays, c.LogsExpireDays, c.ArtifactsExpireDays)
	}
	c, err = Load(ctx(map[string]any{"config": "", "jobRetentionDays": 30}))
	if err != nil || c.LogsExpireDays != 37 || c.ArtifactsExpireDays != 37 {
		t.Errorf("retention 30: logs %d, artifacts %d, %v", c.LogsExpireDays, c.ArtifactsExpireDays, err)
	}
	for _, bad := range []map[string]any{
		{"logsExpireDays": 30.0}, // today's old default: sooner than the jobs
		{"jobRetentionDays": 100.0, "artifactsExpireDays": 97.0},
		{"jobRetentionDays": 0.0},
	} {
		if _, err := Load(ctx(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
