package claims

import (
	"math/rand/v2"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// lostRaceSpread is how many of the best remaining candidates a claimer
// that lost a race draws its next one from.
const lostRaceSpread = 4

// claimOrder is the order a claim tries the candidates of one query in:
// the best first — highest score, then oldest, so a lone claimer always
// takes the head of the queue — and after a lost race one drawn at random
// from the next few of the best remaining score. Claimers that lost a race
// are claiming at the same moment and read the same page; taking the next
// candidate in turn, they would all fall on it together and lose again,
// one refused write each. Spread, they mostly take different jobs of the
// same score, which start together anyway: never a lower score while a
// higher one is untried.
type claimOrder struct {
	cands []*farm.Job
	tried []bool
	lost  bool // a race was lost: spread the next pick
}

func newClaimOrder(cands []*farm.Job) *claimOrder {
	return &claimOrder{cands: cands, tried: make([]bool, len(cands))}
}

// next returns the index of the next candidate to try, or -1 when every
// one was tried.
func (o *claimOrder) next() int {
	first := -1
	for i, t := range o.tried {
		if !t {
			first = i
			break
		}
	}
	if first < 0 {
		return -1
	}
	pick := first
	if o.lost {
		same := make([]int, 0, lostRaceSpread)
		for i := first; i < len(o.cands) && len(same) < lostRaceSpread; i++ {
			if o.cands[i].Score != o.cands[first].Score {
				break
			}
			if !o.tried[i] {
				same = append(same, i)
			}
		}
		pick = same[rand.IntN(len(same))]
	}
	o.tried[pick] = true
	return pick
}

// untried returns the candidates not tried yet.
func (o *claimOrder) untried() []*farm.Job {
	var out []*farm.Job
	for i, c := range o.cands {
		if !o.tried[i] {
			out = append(out, c)
		}
	}
	return out
}
