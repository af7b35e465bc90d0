package fleete2e

import (
	"flag"
	"os"
	"testing"

	"github.com/buildfarm/buildfarm/shared/testkit/emulatortest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Each timeline on the emulator provisions a farm and a group: a few
	// of them (unless -rapid.checks says otherwise) keep this bounded.
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		_ = flag.Set("rapid.checks", "4")
	}
	os.Exit(emulatortest.Main(m))
}
