// Package emulatortest gives integration tests an AWS emulator and a freshly
// provisioned, uniquely named topology. The emulator is started on first use
// and stopped by Main. When none can be had, tests skip with a loud message,
// or fail when CI=true: in CI an integration test never passes by skipping.
package emulatortest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/buildfarm/buildfarm/shared/adapter/emulator"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
)

var (
	once     sync.Once
	emu      *emulator.Emulator
	startErr error
)

// Main runs the tests of a package and stops the emulator they started.
// Use it as: func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if emu != nil {
		emu.Stop()
	}
	return code
}

// Emulator returns the test binary's emulator, starting it on first use.
func Emulator(t testing.TB) *emulator.Emulator {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		emu, startErr = emulator.Ensure(ctx, nil)
	})
	if startErr != nil {
		msg := fmt.Sprintf("\n*** NO AWS EMULATOR: %v\n*** integration test %s cannot run (install moto_server or set AWS_ENDPOINT_URL)", startErr, t.Name())
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return emu
}

// Config returns an SDK config pointing at the emulator.
func Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := Emulator(t).Config(context.Background())
	if err != nil {
		t.Fatalf("emulator config: %v", err)
	}
	return cfg
}

// Topology provisions a topology with a unique prefix for t (pools default to
// topology.DefaultPools) and destroys it when t ends.
func Topology(t testing.TB, pools ...string) (*topology.Topology, aws.Config, *provision.Result) {
	t.Helper()
	cfg := Config(t)
	if len(pools) == 0 {
		pools = topology.DefaultPools
	}
	prefix := "t" + strings.ToLower(farm.NewSecret(4))
	top, err := topology.New(prefix, pools)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := provision.Apply(ctx, cfg, top)
	if err != nil {
		t.Fatalf("provision %s: %v", prefix, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := provision.Destroy(ctx, cfg, top); err != nil {
			t.Logf("destroy %s: %v", prefix, err)
		}
	})
	return top, cfg, res
}
