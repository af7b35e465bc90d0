package farm

import "slices"

// The auth generation lets every API instance cache tokens and the builder
// records claims check for minutes, and still refuse a revoked token or a
// disabled builder's claim within seconds everywhere: every change that
// makes such a cached entry wrong bumps one small record, which names what
// changed; each instance reads that record every couple of seconds (not per
// request) and drops just those entries — or all of them, when it missed
// more changes than the record still lists.

// AuthChangeWindow is how many changes the auth generation record lists:
// an instance that missed more than these drops its whole cache. It keeps
// the record within one 4 KB read unit.
const AuthChangeWindow = 32

// AuthChange is one change that makes a cached entry wrong: a revoked
// token (by its hash) or a builder whose record as a claim checks it
// changed (see Builder.SameForClaims).
type AuthChange struct {
	Gen       int64  `json:"gen"`
	TokenHash string `json:"token_hash,omitempty"`
	Builder   string `json:"builder,omitempty"`
}

// AuthGeneration is the farm's one auth generation record. Gen counts the
// changes ever made (it is also the record's version: a write is
// conditional on the Gen read); Changes lists the latest of them, oldest
// first; Dropped is the latest generation with a change no longer listed.
type AuthGeneration struct {
	Gen     int64        `json:"gen"`
	Changes []AuthChange `json:"changes"`
	Dropped int64        `json:"dropped"`
}

// Next returns the record after one more generation made of changes (nil
// g: the record before any change). Every change gets the new Gen; the
// oldest fall out of the window, whole generations at a time as far as the
// window allows.
func (g *AuthGeneration) Next(changes ...AuthChange) *AuthGeneration {
	cur := g
	if cur == nil {
		cur = &AuthGeneration{}
	}
	next := &AuthGeneration{Gen: cur.Gen + 1, Dropped: cur.Dropped, Changes: slices.Clone(cur.Changes)}
	for _, c := range changes {
		c.Gen = next.Gen
		next.Changes = append(next.Changes, c)
	}
	if over := len(next.Changes) - AuthChangeWindow; over > 0 {
		next.Dropped = max(next.Dropped, next.Changes[over-1].Gen)
		next.Changes = slices.Delete(next.Changes, 0, over)
	}
	return next
}

// Since returns the changes made after generation seen, and complete =
// false when the record no longer lists them all (the caller then drops
// everything it caches). A seen generation ahead of the record (the record
// was recreated) is incomplete too.
func (g *AuthGeneration) Since(seen int64) (changes []AuthChange, complete bool) {
	cur := g
	if cur == nil {
		cur = &AuthGeneration{}
	}
	if seen > cur.Gen || seen < cur.Dropped {
		return nil, false
	}
	for _, c := range cur.Changes {
		if c.Gen > seen {
			changes = append(changes, c)
		}
	}
	return changes, true
}
