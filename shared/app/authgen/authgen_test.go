package authgen_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/buildfarm/buildfarm/shared/adapter/memstore"
	"github.com/buildfarm/buildfarm/shared/app/authgen"
	"github.com/buildfarm/buildfarm/shared/app/builders"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/app/tokens"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countingStore counts the reads the caches exist to save.
type countingStore struct {
	*memstore.Store
	tokenReads, builderReads, genReads atomic.Int64
}

func (c *countingStore) GetToken(ctx context.Context, hash string) (*farm.Token, error) {
	c.tokenReads.Add(1)
	return c.Store.GetToken(ctx, hash)
}

func (c *countingStore) GetBuilder(ctx context.Context, name string) (*farm.Builder, error) {
	c.builderReads.Add(1)
	return c.Store.GetBuilder(ctx, name)
}

func (c *countingStore) GetAuthGeneration(ctx context.Context) (*farm.AuthGeneration, error) {
	c.genReads.Add(1)
	return c.Store.GetAuthGeneration(ctx)
}

// clock is one injected time shared by the instances of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// instance is one API instance: its own watcher and caches over the
// shared store.
type instance struct {
	watch    *authgen.Watcher
	tokens   *tokens.Service
	builders *builders.Service
}

func newInstance(st *countingStore, c *clock) *instance {
	w := authgen.New(authgen.Options{Store: st, Clock: c.Now})
	pools := farm.NewPools([]string{"default"})
	return &instance{
		watch:    w,
		tokens:   tokens.New(st, "", tokens.WithClock(c.Now), tokens.WithPools(pools), tokens.WithWatcher(w)),
		builders: builders.New(builders.Options{Store: st, Pools: pools, Clock: c.Now, Watcher: w}),
	}
}

func setup(t *testing.T) (*countingStore, *clock, *instance, *instance) {
	t.Helper()
	st := &countingStore{Store: memstore.New()}
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	return st, c, newInstance(st, c), newInstance(st, c)
}

var admin = farm.Principal{Role: farm.RoleAdmin}

func issue(t *testing.T, in *instance) (string, *farm.Token) {
	t.Helper()
	secret, tok, err := in.tokens.Issue(context.Background(), tokens.IssueRequest{Role: farm.RoleSubmitter, CreatedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

func mustAuth(t *testing.T, in *instance, secret string) {
	t.Helper()
	if _, err := in.tokens.Authenticate(context.Background(), secret); err != nil {
		t.Fatalf("authenticate: %v", err)
	}
}

func TestRevokedOnOneInstanceIsRefusedOnAnotherWithinTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c, a, b := setup(t)
	secret, tok := issue(t, a)
	mustAuth(t, a, secret)
	mustAuth(t, b, secret)
	if _, err := a.tokens.Revoke(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tokens.Authenticate(ctx, secret); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("on the revoking instance: %v, want 401 at once", err)
	}
	// The other instance trusts its cache until its last read of the
	// generation is a bound old; then it reads it and drops the token —
	// not after its entry's ten minutes.
	c.Add(authgen.DefaultBound)
	if _, err := b.tokens.Authenticate(ctx, secret); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("on another instance %v after the revocation: %v, want 401", authgen.DefaultBound, err)
	}
}

func TestDisabledBuilderIsRefusedOnAnotherInstanceWithinTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c, a, b := setup(t)
	if _, err := a.builders.Register(ctx, admin, "b1", farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}, Slots: 1}); err != nil {
		t.Fatal(err)
	}
	cl, err := b.builders.Claimant(ctx, "b1")
	if err != nil || cl.CanClaim() != nil {
		t.Fatalf("before disabling: %+v %v", cl, err)
	}
	if _, err := a.builders.Disable(ctx, admin, "b1", "broken disk"); err != nil {
		t.Fatal(err)
	}
	c.Add(authgen.DefaultBound)
	cl, err = b.builders.Claimant(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CanClaim(); !farm.IsCode(err, farm.EConflict) {
		t.Fatalf("claim of a builder disabled %v ago on another instance: %v, want refused", authgen.DefaultBound, err)
	}
	// Enabling reaches it the same way.
	if _, err := a.builders.Enable(ctx, admin, "b1", "disk replaced"); err != nil {
		t.Fatal(err)
	}
	c.Add(authgen.DefaultBound)
	if cl, err = b.builders.Claimant(ctx, "b1"); err != nil || cl.CanClaim() != nil {
		t.Fatalf("after enabling: %+v %v", cl, err)
	}
}

func TestWarmInstanceReadsNoTokenOrBuilderPerRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c, a, _ := setup(t)
	secret, _ := issue(t, a)
	if _, err := a.builders.Register(ctx, admin, "b1", farm.BuilderSpec{Kind: farm.KindMetal, Arch: "amd64", Pools: []string{"default"}, Slots: 1}); err != nil {
		t.Fatal(err)
	}
	st.tokenReads.Store(0)
	st.builderReads.Store(0)
	st.genReads.Store(0)
	// Five minutes of 20 requests a second, the background refresher
	// reading the generation every bound as it does in a running process,
	// and the builder heartbeating every 5 s (a write that changes
	// nothing a claim checks keeps the cached record).
	const seconds, perSecond = 300, 20
	step := time.Second / perSecond
	nextRefresh := c.Now()
	for i := range seconds * perSecond {
		if i%(5*perSecond) == 0 {
			if _, err := a.builders.Beat(ctx, "b1", 1, false, c.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if !c.Now().Before(nextRefresh) {
			if err := a.watch.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			nextRefresh = c.Now().Add(authgen.DefaultBound)
		}
		mustAuth(t, a, secret)
		if _, err := a.builders.Claimant(ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		c.Add(step)
	}
	requests := seconds * perSecond
	beats := int64(seconds / 5)
	t.Logf("%d requests: %d token reads, %d builder reads, %d generation reads", requests, st.tokenReads.Load(), st.builderReads.Load(), st.genReads.Load())
	if st.tokenReads.Load() != 1 {
		t.Errorf("%d token reads for %d requests, want 1", st.tokenReads.Load(), requests)
	}
	// The builder record lives WatchedCacheTTL.
	// Each heartbeat reads the builder once to write it (beats); claims
	// read it again only when its cache entry ends.
	if max := beats + int64(seconds/int(builders.WatchedCacheTTL/time.Second)) + 1; st.builderReads.Load() > max {
		t.Errorf("%d builder reads for %d requests, want at most %d", st.builderReads.Load(), requests, max)
	}
	if max := int64(seconds/int(authgen.DefaultBound/time.Second)) + 1; st.genReads.Load() > max {
		t.Errorf("%d generation reads in %d s, want at most %d (one per bound)", st.genReads.Load(), seconds, max)
	}
}

func TestThawedInstanceRevalidatesBeforeTrustingItsCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c, a, b := setup(t)
	secret, tok := issue(t, a)
	mustAuth(t, b, secret)
	// b is frozen (no refresher runs) while the token is revoked, then
	// thawed minutes later: its cache entry has not expired.
	if _, err := a.tokens.Revoke(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	c.Add(5 * time.Minute)
	before := st.genReads.Load()
	if _, err := b.tokens.Authenticate(ctx, secret); !farm.IsCode(err, farm.EUnauthorized) {
		t.Fatalf("thawed instance: %v, want 401", err)
	}
	if got := st.genReads.Load() - before; got != 1 {
		t.Fatalf("thawed instance read the generation %d times, want once, synchronously", got)
	}
}

func TestUnrelatedChangesKeepEntriesAndWindowOverflowDropsAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c, a, b := setup(t)
	secret, _ := issue(t, a)
	mustAuth(t, b, secret)
	revokeOthers := func(n int) {
		for range n {
			_, other := issue(t, a)
			if _, err := a.tokens.Revoke(ctx, admin, other.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	reads := func() int64 { return st.tokenReads.Load() }

	// Fewer changes than the window, none of them b's token: b keeps it.
	revokeOthers(farm.AuthChangeWindow / 2)
	c.Add(authgen.DefaultBound)
	before := reads()
	mustAuth(t, b, secret)
	if reads() != before {
		t.Fatalf("b read its token again after unrelated revocations the generation listed")
	}
	// More changes than the record lists: b cannot tell what changed and
	// drops everything.
	revokeOthers(farm.AuthChangeWindow + 1)
	c.Add(authgen.DefaultBound)
	before = reads()
	mustAuth(t, b, secret)
	if reads() != before+1 {
		t.Fatalf("after missing %d changes b used its cache (%d token reads, want 1)", farm.AuthChangeWindow+1, reads()-before)
	}
}

func TestRefresherStopsWithItsContext(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: memstore.New()}
	w := authgen.New(authgen.Options{Store: st, Bound: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for st.genReads.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st.genReads.Load() < 3 {
		t.Fatalf("the refresher read the generation %d times", st.genReads.Load())
	}
	if err := w.Fresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done // goleak (TestMain) checks nothing else is left
}

func TestGenerationRecord(t *testing.T) {
	t.Parallel()
	var g *farm.AuthGeneration
	for i := range farm.AuthChangeWindow + 5 {
		g = g.Next(farm.AuthChange{Builder: fmt.Sprint("b", i)})
	}
	if len(g.Changes) != farm.AuthChangeWindow || g.Dropped != 5 || g.Gen != int64(farm.AuthChangeWindow+5) {
		t.Fatalf("record: gen %d, dropped %d, %d changes", g.Gen, g.Dropped, len(g.Changes))
	}
	if ch, ok := g.Since(5); !ok || len(ch) != farm.AuthChangeWindow || ch[0].Builder != "b5" {
		t.Fatalf("since 5: %v %+v", ok, ch)
	}
	if _, ok := g.Since(4); ok {
		t.Fatal("since 4: the change of generation 5 is no longer listed, want incomplete")
	}
	if _, ok := g.Since(g.Gen + 1); ok {
		t.Fatal("a generation ahead of the record (recreated) must be incomplete")
	}
	// A generation of several changes drops out whole.
	h := (&farm.AuthGeneration{}).Next(make([]farm.AuthChange, farm.AuthChangeWindow)...).Next(farm.AuthChange{TokenHash: "x"})
	if _, ok := h.Since(0); ok || h.Dropped != 1 {
		t.Fatalf("after the window split generation 1: dropped %d", h.Dropped)
	}
	var _ store.AuthGenStore = memstore.New()
}
