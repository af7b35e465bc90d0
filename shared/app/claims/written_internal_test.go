package claims

import (
	"fmt"
	"testing"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// A process keeps at most maxWrittenJobs jobs as written; the latest is
// always kept, and a job is taken only as presumed, once.
func TestWrittenJobsAreBounded(t *testing.T) {
	t.Parallel()
	var w writtenJobs
	job := func(i int) *farm.Job {
		return &farm.Job{ID: fmt.Sprintf("job-%05d", i), Status: farm.StatusRunning, Builder: "b1", ClaimToken: "tok", Version: 2, Run: 1}
	}
	for i := range maxWrittenJobs + 10 {
		w.remember(job(i))
	}
	if n := len(w.byID); n != maxWrittenJobs {
		t.Fatalf("%d jobs kept, want %d", n, maxWrittenJobs)
	}
	last := job(maxWrittenJobs + 9)
	presumed := farm.Presumed{ClaimToken: "tok", Version: 2, Run: 1}
	if j := w.take(last.ID, "b2", presumed); j != nil {
		t.Fatal("taken for another builder")
	}
	if j := w.take(last.ID, "b1", farm.Presumed{ClaimToken: "tok", Version: 1, Run: 1}); j != nil {
		t.Fatal("taken at another version")
	}
	if j := w.take(last.ID, "b1", presumed); j == nil || j.ID != last.ID {
		t.Fatalf("the latest job: %+v", j)
	}
	if j := w.take(last.ID, "b1", presumed); j != nil {
		t.Fatal("taken twice")
	}
}
