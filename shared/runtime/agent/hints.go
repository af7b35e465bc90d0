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
	want  bool
	asked uint64 // how many times a claim was asked for
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
			ph.want = true
			ph.asked++
		}
	}
}

// wanted reports whether pool is worth a claim now.
func (h *claimHints) wanted(pool string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ph := h.pools[pool]
	return ph != nil && ph.want
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
		ph.want = true
	case ph.asked == ticket:
		ph.want = false
	}
}
