package stack

import (
	"errors"

	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOutputs(t *testing.T) {
	t.Parallel()
	for name, fx := range fixtures() {
		want := []string{"ApiUrl", "BuilderApiUrl", "BucketName", "AdminTokenSecretArn", "BuilderRoleArn", "BuilderInstanceProfileArn",
			"BuilderQueuesPolicyArn", "AlarmTopicArn", "DispatchFailuresQueueUrl"}
		for _, q := range fx.farm.Topology.Queues() {
			want = append(want, "QueueUrl"+q.ID, "DLQUrl"+q.ID)
		}
		arches := map[string]bool{}
		for _, p := range fx.farm.Config.Fleet {
			want = append(want, "Fleet"+topology.LogicalSuffix(p.Pool)+"GroupName")
			arches[goarch(p.Arch)] = true
		}
		for a := range arches {
			want = append(want, "AgentBinaryS3Uri"+a)
		}
		for _, o := range want {
			if _, ok := fx.out[o]; !ok {
				t.Errorf("%s: no output %s", name, o)
			}
		}
		if len(fx.out) != len(want) {
			t.Errorf("%s: %d outputs, want %d", name, len(fx.out), len(want))
		}
	}
}

func TestMissingBootstrapSaysWhatToRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api", "bootstrap"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := CheckFunctionAssets(dir)
	if err == nil || !strings.Contains(err.Error(), "scripts/build-functions") || !strings.Contains(err.Error(), "ingest") ||
		strings.Contains(err.Error(), filepath.Join(dir, "api", "bootstrap")) {
		t.Fatalf("err = %v", err)
	}
	if err := dummyBootstraps(dir); err != nil {
		t.Fatal(err)
	}
	if err := CheckFunctionAssets(dir); err != nil {
		t.Fatal(err)
	}
	if errors.Is(CheckFunctionAssets(filepath.Join(dir, "nope")), nil) {
		t.Fatal("a missing directory must fail")
	}
}
