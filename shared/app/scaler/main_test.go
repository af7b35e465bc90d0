package scaler_test

import (
	"flag"
	"os"
	"testing"

	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The timelines are cheap in memory: more of them than rapid's default
	// 100 find a rare interleaving more surely (unless -rapid.checks says).
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		_ = flag.Set("rapid.checks", "400")
	}
	os.Exit(emulatortest.Main(m))
}
