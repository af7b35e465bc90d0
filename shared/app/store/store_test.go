package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestNormalizeFilter(t *testing.T) {
	t.Parallel()
	id := farm.NewID(time.Now())
	for _, tc := range []struct {
		name  string
		in    store.JobFilter
		field string // refused on this field, or
		limit int    // normalized to these
		scan  int
	}{
		{name: "defaults", in: store.JobFilter{}, limit: store.DefaultListLimit, scan: store.DefaultListScan},
		{name: "scan at least a page and one", in: store.JobFilter{Limit: 500, Scan: 10}, limit: 500, scan: 501},
		{name: "scan capped", in: store.JobFilter{Scan: store.MaxListScan + 1}, limit: store.DefaultListLimit, scan: store.MaxListScan},
		{name: "cursor kept", in: store.JobFilter{Cursor: store.EncodeCursor(id)}, limit: store.DefaultListLimit, scan: store.DefaultListScan},
		{name: "unknown status", in: store.JobFilter{Status: "done"}, field: "status"},
		{name: "negative limit", in: store.JobFilter{Limit: -1}, field: "limit"},
		{name: "limit over the maximum", in: store.JobFilter{Limit: store.MaxListLimit + 1}, field: "limit"},
		{name: "foreign cursor", in: store.JobFilter{Cursor: "not-ours"}, field: "cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.NormalizeFilter(tc.in)
			if tc.field != "" {
				var fe *farm.Error
				if !errors.As(err, &fe) || fe.Code != farm.EInvalid || fe.Field != tc.field {
					t.Fatalf("NormalizeFilter(%+v) = %v, want invalid %s", tc.in, err, tc.field)
				}
				return
			}
			if err != nil || got.Limit != tc.limit || got.Scan != tc.scan {
				t.Fatalf("NormalizeFilter(%+v) = %+v, %v; want limit %d scan %d", tc.in, got, err, tc.limit, tc.scan)
			}
		})
	}
	if got, err := store.DecodeCursor(store.EncodeCursor(id)); err != nil || got != id {
		t.Fatalf("cursor round trip: %q %v", got, err)
	}
}

func TestRetryOnConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	calls := 0
	err := store.RetryOnConflict(ctx, func() error {
		if calls++; calls < 3 {
			return store.LostRace("lost %d", calls)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("lost races are retried: %v after %d calls", err, calls)
	}
	calls = 0
	refused := farm.Errorf(farm.EConflict, "not allowed")
	if err := store.RetryOnConflict(ctx, func() error { calls++; return refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("a domain conflict is returned at once: %v after %d calls", err, calls)
	}
	calls = 0
	err = store.RetryOnConflict(ctx, func() error { calls++; return store.LostRace("always") })
	if !errors.Is(err, store.ErrLostRace) || calls != 8 {
		t.Fatalf("bounded: %v after %d calls", err, calls)
	}
}

// A transition is written conditionally with its event; a race lost to
// another writer is re-decided on the new state.
func TestJobWriterTransition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	w := store.JobWriter{Store: mem, Policy: farm.Policy{EventTTL: time.Hour}, Clock: func() time.Time { return at }}
	job := &farm.Job{ID: farm.NewID(at), Type: farm.TypeScript, Status: farm.StatusQueued, Pool: "default", CreatedAt: at, Version: 1}
	if err := w.Write(ctx, nil, job, &farm.JobEvent{JobID: job.ID, Seq: farm.SeqFor(1), At: at, To: job.Status}); err != nil {
		t.Fatal(err)
	}
	raced := false
	got, err := w.Transition(ctx, job.ID, func(j *farm.Job, now time.Time) (*farm.Job, *farm.JobEvent, error) {
		if !raced {
			// Another writer pins the score between this read and its write.
			raced = true
			other, ev, _ := j.PinScore(5, "admin", now)
			if err := w.Write(ctx, j, other, ev); err != nil {
				t.Fatal(err)
			}
		}
		return j.Cancel("admin", now)
	})
	if err != nil || got.Status != farm.StatusCancelled || got.Score != 5 {
		t.Fatalf("transition: %+v %v", got, err)
	}
	evs, err := mem.JobEvents(ctx, job.ID)
	if err != nil || len(evs) != 3 || evs[2].To != farm.StatusCancelled {
		t.Fatalf("events %+v %v", evs, err)
	}
	// Nothing to change: the job as read.
	same, err := w.Transition(ctx, job.ID, func(*farm.Job, time.Time) (*farm.Job, *farm.JobEvent, error) { return nil, nil, nil })
	if err != nil || same.Version != got.Version {
		t.Fatalf("no-op transition: %+v %v", same, err)
	}
}
