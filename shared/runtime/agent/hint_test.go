package agent_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// settle is how long a test gives a wrong agent to make a claim it must
// not make. A right agent passes whatever the machine's speed; a wrong one
// fails unless its claim comes later than this.
const settle = 300 * time.Millisecond

// gate is a job that runs until the test opens it.
type gate struct{ path string }

func newGate(t *testing.T) gate { return gate{filepath.Join(t.TempDir(), "open")} }

func (g gate) script() string { return `while [ ! -f "$GATE" ]; do sleep 0.02; done` }
func (g gate) env() map[string]string {
	return map[string]string{"GATE": g.path}
}
func (g gate) open(t *testing.T) {
	if err := os.WriteFile(g.path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// claimLog is the fake's record of claim answers so far.
func (f *fakeFarm) claimLogNow() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.claimLog)
}

// waitIdle waits until the agent's slots are all free again.
func (h *harness) waitIdle() {
	h.t.Helper()
	h.farm.waitFor("the slots to be free", func() bool { return h.agent.Status().FreeSlots == h.cfg.Spec.Slots })
}

// A claim that says nothing more is queued is not followed by another
// when its job ends, even though a job is queued meanwhile without a
// doorbell; that job's doorbell brings it.
func TestNoClaimAfterAJobWhenNothingMoreWasQueued(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour // only the hints and doorbells claim
	h := start(t, f, b, cfg)
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
	first := f.script("default", `true`, nil)
	b.ring(f, "default", first.ID)
	f.awaitCompletion(first.ID)
	h.waitIdle()
	time.Sleep(settle)
	if got := f.claimLogNow(); !slices.Equal(got, []string{"204", first.ID}) {
		t.Fatalf("claims %v, want the start claim and the doorbell's: none after a job whose claim said more_queued false", got)
	}
	// With more_queued forced false, a queued job is not claimed after a
	// job either: it waits for its doorbell.
	f.locked(func() { f.hint = new(bool) })
	second, third := f.script("default", `true`, nil), f.script("default", `true`, nil)
	b.ring(f, "default", second.ID)
	f.awaitCompletion(second.ID)
	h.waitIdle()
	time.Sleep(settle)
	f.locked(func() {
		if len(f.queued["default"]) != 1 || f.claims != 3 {
			t.Fatalf("%d claims, %d queued: a claim followed a job whose claim said more_queued false", f.claims, len(f.queued["default"]))
		}
	})
	b.ring(f, "default", third.ID)
	f.awaitCompletion(third.ID)
}

// A claim that says more is queued is followed by another as soon as its
// job ends, with no doorbell; a farm that does not say (older than the
// hint) is taken to have more.
func TestClaimAgainAfterAJobWhenMoreWasQueued(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		omitHint bool
		want     func(a, b string) []string
	}{
		// The second claim says nothing more: no third claim.
		{"more_queued", false, func(a, b string) []string { return []string{a, b} }},
		// Without the hint the agent claims until a 204, as it always did.
		{"no hint", true, func(a, b string) []string { return []string{a, b, "204"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeFarm(t, "default")
			f.omitHint = tc.omitHint
			b := newFakeBells(f)
			cfg := testConfig(t, "default")
			cfg.IdleClaimInterval = time.Hour
			// Queued before the builder came up, with no doorbells.
			first, second := f.script("default", `true`, nil), f.script("default", `true`, nil)
			h := start(t, f, b, cfg)
			f.awaitCompletion(first.ID)
			f.awaitCompletion(second.ID)
			want := tc.want(first.ID, second.ID)
			f.waitFor("the claims", func() bool { return len(f.claimLog) >= len(want) })
			h.waitIdle()
			time.Sleep(settle)
			if got := f.claimLogNow(); !slices.Equal(got, want) {
				t.Fatalf("claims %v, want %v", got, want)
			}
		})
	}
}

// A job queued while the builder is busy (its claim said nothing more
// was queued) is claimed through its doorbell once the slot is free:
// received then, or received while busy and kept as a wish for the pool.
func TestAJobQueuedWhileBusyIsClaimedThroughItsDoorbell(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default", "arm64")
	b := newFakeBells(f)
	cfg := testConfig(t, "default", "arm64") // one slot, two pools
	cfg.IdleClaimInterval = time.Hour
	cfg.PollWait = 20 * time.Second
	h := start(t, f, b, cfg)
	f.waitFor("the start claims", func() bool { return f.claims == 2 })
	// Both pollers in a long poll: the slot was free when they began.
	b.waitInReceive(t, 2)
	g := newGate(t)
	busy := f.script("default", g.script(), g.env())
	b.ring(f, "default", busy.ID)
	f.waitFor("the busy job", func() bool { return f.jobs[busy.ID] != nil })
	// arm64's poller receives this one with no free slot: it drops the
	// doorbell and asks for a claim from arm64 with the next free slot.
	dropped := f.script("arm64", `true`, nil)
	droppedBell := b.ring(f, "arm64", dropped.ID)
	waitDeleted(t, b, droppedBell)
	// default's poller is waiting for a free slot: this doorbell waits in
	// its queue.
	waiting := f.script("default", `true`, nil)
	waitingBell := b.ring(f, "default", waiting.ID)
	time.Sleep(settle)
	f.locked(func() {
		if f.claims != 3 {
			t.Fatalf("%d claims while the only slot was busy, want 3", f.claims)
		}
	})
	g.open(t)
	f.awaitCompletion(busy.ID)
	f.awaitCompletion(dropped.ID)
	f.awaitCompletion(waiting.ID)
	waitDeleted(t, b, waitingBell)
	h.waitIdle()
	if got := f.claimLogNow(); len(got) > 6 {
		t.Fatalf("claims %v: more than the three jobs' (and one doorbell's 204)", got)
	}
}

// A doorbell that finds the only slot taken by a claim whose answer was
// decided before the doorbell's job was queued (a 204) is not lost: that
// 204 does not clear the claim the doorbell asked for.
func TestADoorbellDuringAnEmptyClaimIsNotLost(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	cfg.PollWait = 20 * time.Second
	start(t, f, b, cfg)
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
	b.waitInReceive(t, 1)
	// A re-registration asks for a claim, which takes the slot; the fake
	// decides its answer (nothing queued) and holds it.
	hold := make(chan struct{})
	f.locked(func() { f.claimHold, f.reregister = hold, true })
	f.waitFor("the claim after registering again", func() bool { return f.claims == 2 })
	f.locked(func() { f.claimHold = nil })
	job := f.script("default", `true`, nil)
	bell := b.ring(f, "default", job.ID)
	waitDeleted(t, b, bell) // dropped: no free slot
	close(hold)
	f.awaitCompletion(job.ID)
	if got := f.claimLogNow(); len(got) != 3 || got[1] != "204" || got[2] != job.ID {
		t.Fatalf("claims %v, want the start's, the held 204, then the job", got)
	}
}

func (b *fakeBells) waitInReceive(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		b.mu.Lock()
		in := b.inReceive
		b.mu.Unlock()
		if in >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pollers in a long poll, want %d", in, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitDeleted(t *testing.T, b *fakeBells, receipt string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !b.wasDeleted(receipt) {
		if time.Now().After(deadline) {
			t.Fatalf("doorbell %s was not deleted", receipt)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Doorbells that keep ringing put the idle claim off: it is for doorbells
// that went silent, and a busy pool's claims take every queued job anyway.
func TestRingingDoorbellsPutTheIdleClaimOff(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = 2 * time.Second // each idle claim comes 1 to 3 s after the last
	h := start(t, f, b, cfg)
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		j := f.script("default", `true`, nil)
		b.ring(f, "default", j.ID)
		f.awaitCompletion(j.ID)
	}
	h.waitIdle()
	claims := f.claimLogNow()
	if empty := slices.Index(claims[1:], "204"); empty >= 0 {
		t.Fatalf("an idle claim (answered 204) while the doorbells rang: claim %d of %d", empty+2, len(claims))
	}
}

// When more was queued and every queued job rang, the agent's next claims
// answer those doorbells instead of claiming without one: no doorbell is
// left to find its job taken by then (an empty claim each).
func TestMoreQueuedAnswersWaitingDoorbellsFirst(t *testing.T) {
	t.Parallel()
	f := newFakeFarm(t, "default")
	b := newFakeBells(f)
	b.receiveTime = 50 * time.Millisecond // a claim without a doorbell would come first
	cfg := testConfig(t, "default")
	cfg.IdleClaimInterval = time.Hour
	h := start(t, f, b, cfg)
	f.waitFor("the start claim", func() bool { return f.claims == 1 })
	g := newGate(t)
	var ids []string
	for range 4 {
		j := f.script("default", g.script(), g.env())
		ids = append(ids, j.ID)
	}
	var receipts []string
	for _, id := range ids {
		receipts = append(receipts, b.ring(f, "default", id))
	}
	g.open(t)
	for _, id := range ids {
		f.awaitCompletion(id)
	}
	h.waitIdle()
	time.Sleep(settle)
	claims := f.claimLogNow()
	if empty := slices.Index(claims[1:], "204"); empty >= 0 {
		t.Fatalf("an empty claim: every job had its doorbell (claims %v)", claims)
	}
	for i, r := range receipts {
		if !b.wasDeleted(r) {
			t.Errorf("doorbell %d never answered", i)
		}
	}
}
