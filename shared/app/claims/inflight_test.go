package claims_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/store"
)

// slowCommits is a store whose writes take a while, so that claims made
// at once overlap; it counts the writes that lost a race.
type slowCommits struct {
	*memstore.Store
	lost atomic.Int64
}

func (s *slowCommits) Commit(ctx context.Context, tx store.Tx) error {
	time.Sleep(20 * time.Millisecond)
	err := s.Store.Commit(ctx, tx)
	if errors.Is(err, store.ErrLostRace) {
		s.lost.Add(1)
	}
	return err
}

// Claims one process makes at once for the same head of a queue take one
// job each without a refused write: each moves past the candidates the
// others are writing. Every job is taken once.
func TestConcurrentClaimsOfOneProcessDoNotRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	slow := &slowCommits{Store: f.mem}
	f.Service = f.withStore(slow)
	const n = 4
	for i := range n {
		f.register(t, builderName(i), 1)
		f.script(t, 0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken = map[string]string{}
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := f.Claim(ctx, builder(builderName(i)), builderName(i), "default")
			if err != nil || c == nil {
				t.Errorf("claim for %s: %+v %v", builderName(i), c, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := taken[c.Job.ID]; dup {
				t.Errorf("job %s taken by %s and %s", c.Job.ID, other, builderName(i))
			}
			taken[c.Job.ID] = builderName(i)
		})
	}
	close(start)
	wg.Wait()
	if len(taken) != n {
		t.Fatalf("%d jobs taken, want %d", len(taken), n)
	}
	if lost := slow.lost.Load(); lost != 0 {
		t.Fatalf("%d claim writes lost a race inside one process", lost)
	}
}

func builderName(i int) string { return string(rune('a'+i)) + "-builder" }
