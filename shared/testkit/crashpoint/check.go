package crashpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/app/store"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/farmcheck"
)

// Check returns what is broken after a recovery: every promise the farm
// keeps across a crash, checked on the durable state and through fresh
// services (whose checks change nothing a client holds).
func (f *Farm) Check(ctx context.Context, cs *Clients) ([]string, error) {
	page, err := f.Mem.ListJobs(ctx, store.JobFilter{Limit: store.MaxListLimit})
	if err != nil {
		return nil, err
	}
	jobs := map[string]*farm.Job{}
	for _, j := range page.Jobs {
		jobs[j.ID] = j
	}
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	children := map[string]int{}
	keys := map[string][]string{}
	for _, j := range page.Jobs {
		children[j.ParentID]++
		if j.IdempotencyKey != "" {
			keys[j.IdempotencyKey] = append(keys[j.IdempotencyKey], j.ID)
		}
	}
	for _, j := range page.Jobs {
		evs, err := f.Mem.JobEvents(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		for _, v := range farmcheck.History(j, evs) {
			add("history: %s", v)
		}
		bad = append(bad, f.checkJob(ctx, cs, j, jobs, children[j.ID])...)
	}
	for key, ids := range keys {
		if len(ids) > 1 {
			add("idempotency key %s has %d jobs: %v", key, len(ids), ids)
		}
		if answered, ok := cs.Keys[key]; ok && answered != ids[0] {
			add("idempotency key %s was answered with job %s, but holds %s", key, answered, ids[0])
		}
	}
	for key, id := range cs.Keys {
		if _, ok := jobs[id]; !ok {
			add("idempotency key %s was answered with job %s, which does not exist", key, id)
		}
	}
	more, err := f.checkResources(ctx, cs, jobs)
	if err != nil {
		return nil, err
	}
	bad = append(bad, more...)
	fenced, err := f.checkFencing(ctx, cs, jobs)
	if err != nil {
		return nil, err
	}
	bad = append(bad, fenced...)
	sort.Strings(bad)
	return bad, nil
}

// checkJob checks one job ended where it may: queued and dispatched (in
// its pool's dispatch order, its doorbell rung since it was queued),
// waiting on a dependency that has not ended, running under a claim a
// builder holds, or ended with its follow-on jobs created.
func (f *Farm) checkJob(ctx context.Context, cs *Clients, j *farm.Job, jobs map[string]*farm.Job, children int) []string {
	var bad []string
	add := func(format string, args ...any) {
		bad = append(bad, fmt.Sprintf("job %s (%s): ", j.ID, j.Status)+fmt.Sprintf(format, args...))
	}
	switch {
	case j.Status == farm.StatusQueued:
		queued, err := f.Mem.QueuedJobs(ctx, j.Pool, 1000)
		listed := false
		for _, q := range queued {
			listed = listed || q.ID == j.ID
		}
		if err != nil || !listed {
			add("not in its pool's dispatch order (err %v)", err)
		}
		if !f.rungSince(j.Pool, j.ID) {
			add("queued, but its pool's doorbell has not rung since")
		}
	case j.Status == farm.StatusWaiting:
		pending := false
		for _, d := range j.DependsOn {
			if dep, ok := jobs[d]; ok && !dep.Status.Terminal() {
				pending = true
			}
		}
		if !pending {
			add("waits, but every dependency has ended (%v)", j.DependsOn)
		}
	case j.Status.Active():
		if cs.Held[j.Builder][j.ID] != j.ClaimToken {
			add("claimed by %s under a token no builder holds, after the lease and a reaper pass", j.Builder)
		}
	case j.Status == farm.StatusSucceeded:
		if n := declaredFollowOns(j); n > 0 && (!j.FollowOnsCreated || children != n) {
			add("declares %d follow-on jobs; %d exist (follow_ons_created %v)", n, children, j.FollowOnsCreated)
		}
	}
	return bad
}

// declaredFollowOns counts the follow-on jobs a script job asks for.
func declaredFollowOns(j *farm.Job) int {
	if j.Type != farm.TypeScript {
		return 0
	}
	var args struct {
		Then []json.RawMessage `json:"then"`
	}
	if json.Unmarshal(j.Payload, &args) != nil {
		return 0
	}
	return len(args.Then)
}

// resources lists a pool's resources as every reader sees them: through
// the resources service, which brings one being cleaned in line with its
// clean job first (a resource follows its clean job's end when it is
// read, whoever missed the change).
func (f *Farm) resources(ctx context.Context, pool string) ([]*farm.Resource, error) {
	_, rs, err := f.Start(Live()).Resources.Pool(ctx, pool)
	return rs, err
}

// checkResources checks no resource is leaked: one in use is held by a
// client (its lease would have run out), one dirty or being cleaned has a
// clean job that has not ended (or is flagged for an admin).
func (f *Farm) checkResources(ctx context.Context, cs *Clients, jobs map[string]*farm.Job) ([]string, error) {
	pools, err := f.Mem.ListResourcePools(ctx)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, p := range pools {
		rs, err := f.resources(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			name := r.Pool + "/" + r.Name
			switch r.State {
			case farm.ResourceUsed:
				if cs.Leases[name] != r.LeaseToken {
					bad = append(bad, fmt.Sprintf("resource %s: used under a lease nobody holds", name))
				}
			case farm.ResourceDirty, farm.ResourceCleaning:
				if j, ok := jobs[r.CleanJobID]; r.Flagged == "" && (!ok || j.Status.Terminal()) {
					status := "missing"
					if ok {
						status = string(j.Status)
					}
					bad = append(bad, fmt.Sprintf("resource %s: %s, its clean job %s %s", name, r.State, r.CleanJobID, status))
				}
			}
		}
	}
	return bad, nil
}

// checkFencing presents every claim token a builder was ever answered
// with, other than the one its job is running under, as its builder
// would: the heartbeat must tell it the claim is lost and the completion
// must be refused, changing nothing.
func (f *Farm) checkFencing(ctx context.Context, cs *Clients, jobs map[string]*farm.Job) ([]string, error) {
	var bad []string
	for id, grants := range cs.Claims {
		j := jobs[id]
		for _, g := range grants {
			name, token := g.Builder, g.Token
			if j == nil || (j.Status.Active() && token == j.ClaimToken) {
				continue
			}
			s := f.Start(Live())
			res, err := s.Claims.Heartbeat(ctx, name, []claims.HeartbeatJob{{ID: id, ClaimToken: token}}, false)
			if err != nil {
				return nil, err
			}
			if len(res.Directives) != 1 || !res.Directives[0].ClaimLost {
				bad = append(bad, fmt.Sprintf("job %s: a stale claim token was not told its claim is lost: %+v", id, res.Directives))
			}
			_, err = s.Claims.Complete(ctx, Builder(name), id, claims.Report{ClaimToken: token, Result: string(farm.StatusSucceeded)})
			if !farm.IsCode(err, farm.EConflict) && !(err == nil && j.Status == farm.StatusSucceeded && j.ClaimToken == token) {
				bad = append(bad, fmt.Sprintf("job %s: a completion under a stale claim token answered %v", id, err))
			}
			if after, err := f.Mem.GetJob(ctx, id); err != nil || after.Version != j.Version {
				bad = append(bad, fmt.Sprintf("job %s: a stale claim token changed it (err %v)", id, err))
			}
		}
	}
	return bad, nil
}

// CheckSettled returns what is left unfinished once the agents have run
// everything (Work): every job has ended, and every resource is free,
// held by a client, or flagged for an admin.
func (f *Farm) CheckSettled(ctx context.Context, cs *Clients) ([]string, error) {
	page, err := f.Mem.ListJobs(ctx, store.JobFilter{Limit: store.MaxListLimit})
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, j := range page.Jobs {
		if !j.Status.Terminal() {
			bad = append(bad, fmt.Sprintf("job %s: still %s after the agents ran everything", j.ID, j.Status))
		}
	}
	pools, err := f.Mem.ListResourcePools(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		rs, err := f.resources(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			name := r.Pool + "/" + r.Name
			held := r.State == farm.ResourceUsed && cs.Leases[name] == r.LeaseToken
			if r.State != farm.ResourceFree && !held && r.Flagged == "" {
				bad = append(bad, fmt.Sprintf("resource %s: still %s (clean job %s) after the agents ran everything", name, r.State, r.CleanJobID))
			}
		}
	}
	sort.Strings(bad)
	return bad, nil
}

// CheckBlame returns the builders blamed for a crash that was not
// theirs: a builder whose agent runs on (not Gone) that is marked lost,
// disabled, or has failures counted (the scenarios' jobs all succeed when
// run).
func (f *Farm) CheckBlame(ctx context.Context, cs *Clients) ([]string, error) {
	bs, err := f.Mem.ListBuilders(ctx)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, b := range bs {
		if cs.Gone[b.Name] {
			continue
		}
		if b.State == farm.BuilderLost || b.Disabled || b.ConsecutiveFailures > 0 {
			bad = append(bad, fmt.Sprintf("builder %s: %s, disabled %v, %d failures counted", b.Name, b.State, b.Disabled, b.ConsecutiveFailures))
		}
	}
	return bad, nil
}
