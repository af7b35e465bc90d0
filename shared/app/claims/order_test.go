package claims

import (
	"testing"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// The head of the queue is always tried first; after a lost race the next
// pick is one of the next few of the best remaining score — never a lower
// score while a higher one is untried — and every candidate is tried once.
func TestClaimOrder(t *testing.T) {
	t.Parallel()
	scores := []int64{5, 5, 5, 5, 5, 5, 3, 3}
	cands := make([]*farm.Job, len(scores))
	for i, s := range scores {
		cands[i] = &farm.Job{ID: string(rune('a' + i)), Score: s}
	}
	spreadSeen := map[int]bool{}
	for range 500 {
		o := newClaimOrder(cands)
		if first := o.next(); first != 0 {
			t.Fatalf("first pick %d, want the head of the queue", first)
		}
		if second := o.next(); second != 1 {
			t.Fatalf("without a lost race the next pick is %d, want 1", second)
		}
		o.lost = true
		seen := map[int]bool{0: true, 1: true}
		for i := o.next(); i >= 0; i = o.next() {
			if seen[i] {
				t.Fatalf("candidate %d tried twice", i)
			}
			for j := range cands {
				if !seen[j] && j != i && cands[j].Score > cands[i].Score {
					t.Fatalf("picked %d (score %d) while %d (score %d) was untried", i, cands[i].Score, j, cands[j].Score)
				}
			}
			if len(seen) == 2 {
				if i < 2 || i >= 2+lostRaceSpread {
					t.Fatalf("after a lost race picked %d, outside the next %d", i, lostRaceSpread)
				}
				spreadSeen[i] = true
			}
			seen[i] = true
		}
		if len(seen) != len(cands) {
			t.Fatalf("tried %d of %d candidates", len(seen), len(cands))
		}
	}
	if len(spreadSeen) < 2 {
		t.Fatalf("after a lost race always picked %v: not spread", spreadSeen)
	}
}
