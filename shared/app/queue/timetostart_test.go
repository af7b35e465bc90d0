package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/queue"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/storetest"
)

func TestPercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	values := []float64{9, 1, 5, 2} // sorted: 1 2 5 9
	for p, want := range map[float64]float64{0: 1, 25: 1, 50: 2, 51: 5, 75: 5, 90: 9, 100: 9} {
		if got := queue.Percentile(values, p); got == nil || *got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := queue.Percentile(nil, 50); got != nil {
		t.Errorf("p50 of nothing = %v", *got)
	}
	if values[0] != 9 {
		t.Error("Percentile sorted its input in place")
	}
}

// startsUnavailable is a store whose start index cannot be read (an index
// still being built after an upgrade).
type startsUnavailable struct{ *memstore.Store }

func (startsUnavailable) RecentStarts(context.Context, string, time.Time, int) ([]float64, error) {
	return nil, errors.New("the table does not have the specified index")
}

// Without time-to-start figures the queue is still shown.
func TestQueueSummaryWithoutTheStartIndex(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock()
	q := queue.New(queue.Options{Store: startsUnavailable{memstore.New()}, Pools: farm.NewPools(storetest.Pools), Clock: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	sums, err := q.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != len(storetest.Pools) || sums[0].TimeToStartP50 != nil || sums[0].Started != 0 {
		t.Fatalf("summary %+v", sums)
	}
}
