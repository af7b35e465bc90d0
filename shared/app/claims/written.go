package claims

import (
	"sync"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// writtenJobs keeps the running jobs this process last wrote (claims and
// lease renewals), as written. Every write of a job's item moves its
// version, so the job a builder's completion presumes (its version, run
// and claim token) is, when this process wrote that very version, known
// here whole: the completion is decided from it as from a read and
// written as the whole finished item, one conditional write (a put) that
// an emulator evaluates in a fraction of a patch's time. The condition
// still decides: a job changed since is found by the failed write, as on
// any other path. A completion served by another process (another Lambda
// instance) takes the patch (completeAsPresumed).
type writtenJobs struct {
	mu   sync.Mutex
	byID map[string]*farm.Job
}

// maxWrittenJobs bounds what a process keeps: far more jobs than it runs
// at once, a few MB.
const maxWrittenJobs = 4096

// remember keeps j (a copy) as written.
func (w *writtenJobs) remember(j *farm.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byID == nil {
		w.byID = map[string]*farm.Job{}
	}
	if _, known := w.byID[j.ID]; !known && len(w.byID) >= maxWrittenJobs {
		// Full (jobs another process completed, or abandoned): forget
		// any one; its completion then takes the patch.
		for id := range w.byID {
			delete(w.byID, id)
			break
		}
	}
	w.byID[j.ID] = j.Clone()
}

// take returns (and forgets) job id as written, when that is the job p
// presumes of builder's run; nil otherwise.
func (w *writtenJobs) take(id, builder string, p farm.Presumed) *farm.Job {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.byID[id]
	if !ok || j.Builder != builder || j.ClaimToken != p.ClaimToken || j.Version != p.Version || j.Run != p.Run || j.Status != farm.StatusRunning {
		return nil
	}
	delete(w.byID, id)
	return j
}
