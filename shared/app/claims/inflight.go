package claims

import (
	"context"
	"sync"
	"time"
)

// inFlight is the candidates this process's claims are writing now. Claims
// of one pool read the same head of its queue; where one API process
// serves many builders (a server, the local farm) two of its claims would
// race each other for the same candidate and all but one lose a write.
// Instead a claim moves past a candidate another of its claims is writing
// (it will be taken, or found not claimable and left), and waits for those
// writes before it reads again. The conditional write still decides
// between processes (each Lambda instance serves one request at a time).
// Order holds: a skipped candidate ranks above the one taken instead only
// when the claim writing it fails, which leaves it first for the next.
type inFlight struct {
	mu  sync.Mutex
	ids map[string]chan struct{}
}

// take reserves job id for one claim's write: release ends it. When
// another claim of this process holds it, release is nil and done is
// closed once that claim's write is over.
func (f *inFlight) take(id string) (release func(), done <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, held := f.ids[id]; held {
		return nil, ch
	}
	if f.ids == nil {
		f.ids = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	f.ids[id] = ch
	return func() {
		f.mu.Lock()
		delete(f.ids, id)
		f.mu.Unlock()
		close(ch)
	}, nil
}

// inFlightWait bounds how long a claim waits for its process's other
// claims before it reads the queue again (their writes take milliseconds).
const inFlightWait = 2 * time.Second

// awaitAll waits until every one of done is closed, the bound passes or ctx
// ends.
func awaitAll(ctx context.Context, done []<-chan struct{}) {
	if len(done) == 0 {
		return
	}
	timer := time.NewTimer(inFlightWait)
	defer timer.Stop()
	for _, ch := range done {
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
