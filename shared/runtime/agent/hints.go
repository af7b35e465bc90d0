package agent

import "sync"

// claimHints says, per pool, whether the agent should claim from it when a
// slot is free: the farm's last claim answer said more was queued there
// (more_queued), or something asked for a claim (the start, a
// registration, an idle-claim tick, a doorbell that found no free slot).
// A claim that finds nothing more clears it, unless it was asked for again
// while that claim was under way: the answer may predate what the asker
// knows (a doorbell of a job queued after the claim read the queue), so
// the pool stays wanted and the next free slot claims from it.
type claimHints struct {
	mu    sync.Mutex
	pools map[string]*poolHint
}

type poolHint struct {
	want bool
	// hinted: wanted only because the last claim said more was queued.
	// Every queued job rang a doorbell of its own, so such a pool's next
	// claim answers a doorbell when one is waiting (a claim without one
	// would leave that doorbell to find its job taken: an empty claim);
	// only when none is does it claim without (doorbellFirst).
	hinted bool
	// longPoll: the pool's poller is in a long poll, so no doorbell of
	// the pool is waiting (the poll would have returned it).
	longPoll bool
	asked    uint64 // how many times a claim was asked for
}

func newClaimHints(pools []string) *claimHints {
	h := &claimHints{pools: map[string]*poolHint{}}
	for _, p := range pools {
		h.pools[p] = &poolHint{}
	}
	return h
}

// ask marks pools as worth a claim.
func (h *claimHints) ask(pools ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range pools {
		if ph := h.pools[p]; ph != nil {
			ph.want, ph.hinted = true, false
			ph.asked++
		}
	}
}

// sweepable reports whether a sweep claims from pool now: it is wanted,
// and not only by a hint while a doorbell of the pool may be waiting for
// its poller to answer it first.
func (h *claimHints) sweepable(pool string, hasDoorbells bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ph := h.pools[pool]
	return ph != nil && ph.want && !(ph.hinted && hasDoorbells && !ph.longPoll)
}

// polling records whether pool's poller is in a long poll.
func (h *claimHints) polling(pool string, long bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ph := h.pools[pool]; ph != nil {
		ph.longPoll = long
	}
}

// doorbellFirst reports whether pool is wanted only by a hint: its poller
// answers a waiting doorbell, or finding none asks for a claim without.
func (h *claimHints) doorbellFirst(pool string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ph := h.pools[pool]
	return ph != nil && ph.want && ph.hinted
}

// claiming is called as a claim from pool is sent; it returns the ticket
// to give answered with the claim's answer.
func (h *claimHints) claiming(pool string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ph := h.pools[pool]; ph != nil {
		return ph.asked
	}
	return 0
}

// answered takes a claim's answer: more (a job came with more_queued) keeps
// the pool wanted; nothing more clears it unless a claim was asked for
// after the claim of ticket was sent.
func (h *claimHints) answered(pool string, ticket uint64, more bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ph := h.pools[pool]
	switch {
	case ph == nil:
	case more:
		// Wanted by the hint alone, unless a claim was asked for
		// meanwhile: that one stands.
		ph.want, ph.hinted = true, ph.asked == ticket
	case ph.asked == ticket:
		ph.want, ph.hinted = false, false
	}
}
