package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// RunLimitsContract checks what keeps one caller from costing the farm
// without bound: tokens listed and revoked by id, dependency edges kept out
// of the job depended on, listings that examine a bounded number of index
// entries, and payloads measured in their stored form.
func RunLimitsContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("TokensAreListedAndRevokedByID", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		exp := farm.TimePtr(t0.Add(time.Hour))
		toks := []*farm.Token{
			{Hash: farm.HashToken("one"), ID: farm.NewID(t0), Role: farm.RoleSubmitter, Name: "ci", CreatedBy: "admin", CreatedAt: t0},
			{Hash: farm.HashToken("two"), ID: farm.NewID(t0.Add(time.Millisecond)), Role: farm.RoleBuilder, Builder: "b1", Pools: []string{"default", "arm64"}, CreatedBy: "admin", CreatedAt: t0, ExpiresAt: exp},
			{Hash: farm.HashToken("three"), ID: farm.NewID(t0.Add(2 * time.Millisecond)), Role: farm.RoleAdmin, CreatedAt: t0},
		}
		for _, tok := range toks {
			must(t, s.Commit(ctx, store.Tx{Tokens: []*farm.Token{tok}}))
		}
		list, err := s.ListTokens(ctx)
		must(t, err)
		if !reflect.DeepEqual(list, toks) {
			t.Fatalf("tokens:\n got %+v\nwant %+v", list, toks)
		}
		got, err := s.GetToken(ctx, toks[1].Hash)
		must(t, err)
		if !reflect.DeepEqual(got, toks[1]) {
			t.Fatalf("bound, expiring token round trip:\n got %+v\nwant %+v", got, toks[1])
		}
		gone, err := s.DeleteToken(ctx, toks[1].ID)
		must(t, err)
		if gone.Hash != toks[1].Hash {
			t.Fatalf("deleted %+v, want the token with id %s", gone, toks[1].ID)
		}
		_, err = s.GetToken(ctx, toks[1].Hash)
		mustCode(t, err, farm.ENotFound)
		_, err = s.DeleteToken(ctx, toks[1].ID)
		mustCode(t, err, farm.ENotFound)
		_, err = s.DeleteToken(ctx, farm.NewID(t0))
		mustCode(t, err, farm.ENotFound)
		list, err = s.ListTokens(ctx)
		must(t, err)
		if len(list) != 2 || list[0].ID != toks[0].ID || list[1].ID != toks[2].ID {
			t.Fatalf("after revoking: %+v", list)
		}
	})

	t.Run("DependencyEdgesAreTheirOwnItems", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(4)
		edge := func(job, dependent string) store.DependentEdge {
			return store.DependentEdge{JobID: job, DependentID: dependent, ExpiresAt: t0.Add(24 * time.Hour)}
		}
		must(t, s.Commit(ctx, store.Tx{Dependents: []store.DependentEdge{edge(ids[0], ids[2]), edge(ids[0], ids[1])}}))
		// Writing an edge again changes nothing.
		must(t, s.Commit(ctx, store.Tx{Dependents: []store.DependentEdge{edge(ids[0], ids[2])}}))
		must(t, s.Commit(ctx, store.Tx{Dependents: []store.DependentEdge{edge(ids[3], ids[1])}}))
		got, err := s.Dependents(ctx, ids[0], 0)
		must(t, err)
		if !reflect.DeepEqual(got, []string{ids[1], ids[2]}) {
			t.Fatalf("dependents %v, want %v", got, ids[1:3])
		}
		got, err = s.Dependents(ctx, ids[0], 1)
		must(t, err)
		if !reflect.DeepEqual(got, []string{ids[1]}) {
			t.Fatalf("first dependent %v", got)
		}
		got, err = s.Dependents(ctx, ids[1], 0)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("a job nobody waits for has dependents %v", got)
		}
		// The count of a job's dependents: one conditional item beside its edges.
		zero, err := s.GetDependentTally(ctx, ids[0])
		must(t, err)
		if zero.Count != 0 || zero.Version != 0 || zero.JobID != ids[0] {
			t.Fatalf("tally never written: %+v", zero)
		}
		one := &store.DependentTally{JobID: ids[0], Count: 1, Version: 1, ExpiresAt: t0.Add(time.Hour)}
		must(t, s.Commit(ctx, store.Tx{Tallies: []store.TallyWrite{{Next: one}}}))
		mustCode(t, s.Commit(ctx, store.Tx{Tallies: []store.TallyWrite{{Next: one}}}), farm.EConflict)
		two := &store.DependentTally{JobID: ids[0], Count: 2, Version: 2}
		must(t, s.Commit(ctx, store.Tx{Tallies: []store.TallyWrite{{Prev: one, Next: two}}}))
		mustCode(t, s.Commit(ctx, store.Tx{Tallies: []store.TallyWrite{{Prev: one, Next: two}}}), farm.EConflict)
		tally, err := s.GetDependentTally(ctx, ids[0])
		must(t, err)
		if tally.Count != 2 || tally.Version != 2 {
			t.Fatalf("tally %+v", tally)
		}
		got, err = s.Dependents(ctx, ids[0], 0)
		must(t, err)
		if !reflect.DeepEqual(got, []string{ids[1], ids[2]}) {
			t.Fatalf("the tally shows among the dependents: %v", got)
		}
	})

	t.Run("FilteredListingsExamineABoundedNumberOfEntries", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ids := newIDs(12)
		// The two oldest run on arm64; the ten newest, all queued too, on default.
		for i, id := range ids {
			pool := "default"
			if i < 2 {
				pool = "arm64"
			}
			create(t, s, rawJob(id, farm.StatusQueued, pool, 1))
		}
		var found []string
		cursor, calls := "", 0
		for {
			page, err := s.ListJobs(ctx, store.JobFilter{Status: farm.StatusQueued, Pool: "arm64", Limit: 1, Scan: 4, Cursor: cursor})
			must(t, err)
			calls++
			if len(page.Jobs) > 1 {
				t.Fatalf("page of %d jobs, limit 1", len(page.Jobs))
			}
			if calls == 1 && (len(page.Jobs) != 0 || page.NextCursor == "") {
				t.Fatalf("first page examined the 4 newest entries (none on arm64): %v, cursor %q", jobIDs(page.Jobs), page.NextCursor)
			}
			found = append(found, jobIDs(page.Jobs)...)
			if page.NextCursor == "" {
				break
			}
			if calls > 6 {
				t.Fatal("the cursor never ends")
			}
			cursor = page.NextCursor
		}
		if !reflect.DeepEqual(found, []string{ids[1], ids[0]}) {
			t.Fatalf("found %v, want the arm64 jobs %v newest first", found, []string{ids[1], ids[0]})
		}
		// A filter its index answers whole always fills its page.
		page, err := s.ListJobs(ctx, store.JobFilter{Status: farm.StatusQueued, Limit: 10, Scan: 4})
		must(t, err)
		if len(page.Jobs) != 10 || page.NextCursor == "" {
			t.Fatalf("status-only listing: %d jobs, cursor %q", len(page.Jobs), page.NextCursor)
		}
		byType, err := s.ListJobs(ctx, store.JobFilter{Type: farm.TypeScript, Pool: "arm64", Limit: 5})
		must(t, err)
		if !reflect.DeepEqual(jobIDs(byType.Jobs), []string{ids[1], ids[0]}) || byType.NextCursor != "" {
			t.Fatalf("by type and pool: %v, cursor %q", jobIDs(byType.Jobs), byType.NextCursor)
		}
	})

	// The job depended on is written once, by its first dependent (its
	// HasDependents flag, so that its end shows that jobs wait on it),
	// however many follow.
	t.Run("DependentsWriteTheJobTheyWaitForOnce", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, farm.Policy{MaxDependents: 3})
		e.Builder(t, "b", 1)
		parent := e.ScriptJob(t, "default", 0)
		sub := func(deps ...string) (*farm.Job, error) {
			j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: json.RawMessage(`{"script":"x"}`), DependsOn: deps, RequestedBy: "submitter:test"})
			return j, err
		}
		var waiting []string
		for range 3 {
			j, err := sub(parent.ID)
			must(t, err)
			waiting = append(waiting, j.ID)
		}
		got, err := e.Store.GetJob(ctx, parent.ID)
		must(t, err)
		if got.Version != parent.Version+1 || !got.HasDependents || parent.HasDependents {
			t.Fatalf("the job depended on: version %d (was %d), has dependents %v (was %v); want one write flagging it", got.Version, parent.Version, got.HasDependents, parent.HasDependents)
		}
		edges, err := e.Store.Dependents(ctx, parent.ID, 0)
		must(t, err)
		// In id order: ids made in one millisecond need not sort as made.
		slices.Sort(waiting)
		if !reflect.DeepEqual(edges, waiting) {
			t.Fatalf("edges %v, want %v", edges, waiting)
		}
		if tally, err := e.Store.GetDependentTally(ctx, parent.ID); err != nil || tally.Count != 3 {
			t.Fatalf("tally %+v %v, want 3", tally, err)
		}
		// One more than the bound is refused, naming the dependency, and changes nothing.
		_, err = sub(parent.ID)
		if fieldOf(err) != "depends_on[0]" || !strings.Contains(err.Error(), "dependent") {
			t.Fatalf("a fourth dependent: %v, want invalid depends_on[0]", err)
		}
		all, err := e.Store.ListJobs(ctx, store.JobFilter{Limit: 50})
		must(t, err)
		if len(all.Jobs) != 4 {
			t.Fatalf("%d jobs after a refused submit, want 4", len(all.Jobs))
		}
		if tally, _ := e.Store.GetDependentTally(ctx, parent.ID); tally.Count != 3 {
			t.Fatalf("a refused submit counted: tally %d", tally.Count)
		}
		// Dependency behaviour holds: success releases every dependent.
		j, err := e.Claim(ctx, "b", "default")
		must(t, err)
		_, err = e.Claims.Record(ctx, "b", j.ID, farm.Completion{ClaimToken: j.ClaimToken, Result: farm.StatusSucceeded})
		must(t, err)
		for _, id := range waiting {
			if got, _ := e.Store.GetJob(ctx, id); got.Status != farm.StatusQueued {
				t.Fatalf("dependent %s is %s after its dependency succeeded", id, got.Status)
			}
		}
		// A finished job takes dependents without limit: they never wait.
		late, err := sub(parent.ID)
		must(t, err)
		if late.Status != farm.StatusQueued {
			t.Fatalf("a dependent of a succeeded job is %s", late.Status)
		}
	})

	t.Run("PayloadLimitHoldsOnTheStoredForm", func(t *testing.T) {
		t.Parallel()
		e := NewEnv(t, newStore, farm.Policy{})
		submit := func(value string) (*farm.Job, error) {
			// As a client may send it: '<' and U+2028 as themselves (value
			// holds nothing JSON must escape).
			payload := []byte(`{"script":"true","env":{"DATA":"` + value + `"}}`)
			if len(payload) > admission.MaxPayloadBytes {
				t.Fatalf("test payload of %d bytes is over the limit as sent", len(payload))
			}
			j, _, err := e.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: payload, RequestedBy: "submitter:test"})
			return j, err
		}
		// 240 KiB of '<' is under the limit as sent, and must stay so: JSON
		// re-encoding must not make it six times larger (\u003c) on its way
		// to the store (DynamoDB refuses items over 400 KB).
		j, err := submit(strings.Repeat("<", 240<<10))
		must(t, err)
		stored, err := e.Store.GetJob(ctx, j.ID)
		must(t, err)
		if len(stored.Payload) > admission.MaxPayloadBytes || !strings.Contains(string(stored.Payload), "<<<<") {
			t.Fatalf("stored payload of %d bytes: %.60s", len(stored.Payload), stored.Payload)
		}
		// Characters JSON always escapes (U+2028 becomes 6 bytes, not 3)
		// count in their stored form: refused naming the payload, never a
		// store error.
		_, err = submit(strings.Repeat("\u2028", (admission.MaxPayloadBytes-100)/3))
		if fieldOf(err) != "payload" {
			t.Fatalf("payload over the limit once stored: %v, want invalid payload", err)
		}
		all, err := e.Store.ListJobs(ctx, store.JobFilter{Limit: 5})
		must(t, err)
		if len(all.Jobs) != 1 {
			t.Fatalf("%d jobs stored, want the first only", len(all.Jobs))
		}
	})
}
