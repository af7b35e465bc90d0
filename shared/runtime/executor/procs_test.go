package executor_test

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/testkit/proctest"
)

// The executor's tests mark their jobs (see proctest) to count the
// processes a job leaves behind.
const (
	markerVar    = proctest.MarkerVar
	escapeScript = proctest.EscapeScript
)

func newMarker() string { return proctest.NewMarker() }

func waitMarked(t *testing.T, marker string, n int, log *logBuffer) {
	t.Helper()
	proctest.WaitAtLeast(t, marker, n, hangGuard, log.String)
}

func waitNoneMarked(t *testing.T, marker string) {
	t.Helper()
	proctest.WaitNone(t, marker, hangGuard)
}
