package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/client"
	"github.com/buildfarm/buildfarm/shared/adapter/provision"
	"github.com/buildfarm/buildfarm/shared/adapter/topology"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// scripts/up with no settings starts one local builder, so the first job a
// newcomer submits runs; FARM_BUILDERS=0 starts none.
func TestBuildersByDefault(t *testing.T) {
	emu := emulatortest.Emulator(t)
	bin := filepath.Join(t.TempDir(), "farm-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		builders string // "" leaves FARM_BUILDERS unset
		want     []string
	}{{"", []string{"local-1"}}, {"0", nil}} {
		t.Run("FARM_BUILDERS="+tc.builders, func(t *testing.T) {
			prefix := "t" + strings.ToLower(farm.NewSecret(4))
			top, err := topology.New(prefix, []string{farm.DefaultPool})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cfg, err := emu.Config(context.Background())
				if err == nil {
					err = provision.Destroy(context.Background(), cfg, top)
				}
				if err != nil {
					t.Logf("destroy %s: %v", prefix, err)
				}
			})
			token := "bf_admin_" + farm.NewSecret(20)
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), emu.Env()...)
			cmd.Env = append(cmd.Env, "FARM_PREFIX="+prefix, "FARM_POOLS_CONFIG="+farm.DefaultPool, "FARM_ADDR=127.0.0.1:0",
				"FARM_ADMIN_TOKEN="+token, "FARM_LOG_LEVEL=warn", "FARM_BUILDERS="+tc.builders)
			if tc.builders == "" {
				cmd.Env = withoutVar(cmd.Env, "FARM_BUILDERS")
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			})
			banner := readBanner(t, stdout)
			if !strings.Contains(banner, fmt.Sprintf("builders:    %d\n", len(tc.want))) || !strings.Contains(banner, "/ui/") {
				t.Fatalf("banner:\n%s", banner)
			}
			url := field(banner, "API:")
			admin, err := client.New(url, token)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				list, err := admin.ListBuilders(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				names = nil
				for _, b := range list {
					names = append(names, b.Name)
				}
				if len(names) == len(tc.want) || time.Now().After(deadline) {
					break
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("builders %v, want %v", names, tc.want)
			}
		})
	}
}

// readBanner reads what farm-local prints once it is up.
func readBanner(t *testing.T, r interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var b strings.Builder
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("farm-local ended before it was up:\n%s", b.String())
			}
			b.WriteString(l + "\n")
			if strings.HasPrefix(strings.TrimSpace(l), "builders:") {
				go func() {
					for range lines {
					}
				}()
				return b.String()
			}
		case <-timeout:
			t.Fatalf("farm-local not up after a minute:\n%s", b.String())
		}
	}
}

func field(banner, name string) string {
	for _, l := range strings.Split(banner, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name); ok {
			return strings.Fields(v)[0]
		}
	}
	return ""
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
