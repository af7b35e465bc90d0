package crashpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/app/admission"
	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/testkit/crashpoint"
)

func nothing(*testing.T, context.Context, *crashpoint.Farm, *crashpoint.Clients) {}

// submitting is a submission the use case makes (its client learns the
// job and the key's answer).
func submitting(req admission.Request) func(context.Context, *crashpoint.Call) error {
	return func(ctx context.Context, c *crashpoint.Call) error {
		req := req
		req.RequestedBy, req.IdempotencyScope = alice.Actor(), alice.Actor()
		if req.DependsOn != nil {
			req.DependsOn = []string{c.Clients.Names["dep"]}
		}
		job, _, err := c.Services.Jobs.Submit(ctx, req)
		if err == nil && req.IdempotencyKey != "" {
			c.Answer(func(cs *crashpoint.Clients) { cs.Keys["submit:"+req.IdempotencyScope+":"+req.IdempotencyKey] = job.ID })
		}
		return err
	}
}

func withDep(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
	submit(t, ctx, f, cs, "dep", admission.Request{Type: farm.TypeScript, Payload: script("")})
}

// withDependent: a job "dependent" waiting on "job".
func withDependent(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
	live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
		_, _, err := c.Services.Jobs.Submit(ctx, admission.Request{Type: farm.TypeScript, Payload: script(""), RequestedBy: alice.Actor(), DependsOn: []string{cs.Names["job"]}})
		return err
	})
}

func steps(fs ...func(*testing.T, context.Context, *crashpoint.Farm, *crashpoint.Clients)) func(*testing.T, context.Context, *crashpoint.Farm, *crashpoint.Clients) {
	return func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
		for _, s := range fs {
			s(t, ctx, f, cs)
		}
	}
}

var (
	plain      = admission.Request{Type: farm.TypeScript, Payload: script("")}
	once       = admission.Request{Type: farm.TypeScript, Payload: script(""), MaxAttempts: intp(1)}
	thrice     = admission.Request{Type: farm.TypeScript, Payload: script(""), MaxAttempts: intp(3)}
	followOns  = admission.Request{Type: farm.TypeScript, Payload: script(`,"then":[{"type":"script","payload":{"script":"true"}},{"type":"script","payload":{"script":"false"}}]`)}
	shortLived = admission.Request{Type: farm.TypeScript, Payload: script(""), TimeoutSeconds: intp(60)}
)

func completing(result farm.JobStatus) func(context.Context, *crashpoint.Farm, *crashpoint.Clients, *crashpoint.Process) error {
	return func(ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients, p *crashpoint.Process) error {
		return complete(ctx, f, cs, p, cs.Names["job"], result)
	}
}

func scenarios() []scenario {
	return []scenario{
		{name: "submit", setup: nothing, run: api(submitting(plain))},
		{name: "submit_with_key", setup: nothing, run: api(submitting(admission.Request{Type: farm.TypeScript, Payload: script(""), IdempotencyKey: "k1"})), retry: true},
		{name: "submit_waiting", setup: withDep, run: api(submitting(admission.Request{Type: farm.TypeScript, Payload: script(""), DependsOn: []string{}}))},
		{name: "submit_waiting_with_key", setup: withDep, run: api(submitting(admission.Request{Type: farm.TypeScript, Payload: script(""), DependsOn: []string{}, IdempotencyKey: "k2"})), retry: true},
		{name: "claim", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			register(t, ctx, f, cs, "b1", "boot-1")
			submit(t, ctx, f, cs, "job", plain)
		}, run: api(func(ctx context.Context, c *crashpoint.Call) error {
			cl, err := c.Services.Claims.Claim(ctx, crashpoint.Builder("b1"), "b1", farm.DefaultPool)
			c.Claimed("b1", cl)
			return err
		}), retry: true},
		{name: "heartbeat", setup: queuedAndClaimed(plain), run: api(func(ctx context.Context, c *crashpoint.Call) error {
			id := c.Clients.Names["job"]
			_, err := c.Services.Claims.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: id, ClaimToken: c.Clients.Held["b1"][id], Log: "line\n"}}, false)
			return err
		}), retry: true},
		{name: "complete_succeeded", setup: queuedAndClaimed(plain), run: completing(farm.StatusSucceeded), retry: true},
		{name: "complete_failed_attempts_left", setup: queuedAndClaimed(thrice), run: completing(farm.StatusFailed), retry: true},
		{name: "complete_with_follow_ons_and_dependent", setup: steps(queuedAndClaimed(followOns), withDependent), run: completing(farm.StatusSucceeded), retry: true},
		{name: "complete_failed_with_dependent", setup: steps(queuedAndClaimed(once), withDependent), run: completing(farm.StatusFailed), retry: true},
		{name: "complete_clean_job", setup: cleanJobClaimed, run: completing(farm.StatusSucceeded), retry: true},
		{name: "cancel_queued", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			submit(t, ctx, f, cs, "job", plain)
		}, run: api(func(ctx context.Context, c *crashpoint.Call) error {
			_, err := c.Services.Jobs.Cancel(ctx, admin, c.Clients.Names["job"])
			return err
		})},
		{name: "cancel_running", setup: queuedAndClaimed(plain), run: api(func(ctx context.Context, c *crashpoint.Call) error {
			_, err := c.Services.Jobs.Cancel(ctx, admin, c.Clients.Names["job"])
			return err
		})},
		{name: "retry_failed", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			queuedAndClaimed(once)(t, ctx, f, cs)
			if err := complete(ctx, f, cs, crashpoint.Live(), cs.Names["job"], farm.StatusFailed); err != nil {
				t.Fatal(err)
			}
		}, run: api(func(ctx context.Context, c *crashpoint.Call) error {
			_, err := c.Services.Jobs.Retry(ctx, admin, c.Clients.Names["job"])
			return err
		})},
		{name: "hand_back", setup: queuedAndClaimed(plain), run: api(func(ctx context.Context, c *crashpoint.Call) error {
			id := c.Clients.Names["job"]
			token := c.Clients.Held["b1"][id]
			if token == "" {
				return nil
			}
			_, err := c.Services.Claims.HandBack(ctx, crashpoint.Builder("b1"), id, token, "spot interruption")
			if err == nil {
				c.Done("b1", id)
			}
			return err
		})}, // the agent does not send a hand-back again: the lease covers one that failed
		{name: "register_restarted", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			queuedAndClaimed(plain)(t, ctx, f, cs)
			delete(cs.Held, "b1") // the agent restarted: it runs nothing
		}, run: api(func(ctx context.Context, c *crashpoint.Call) error {
			_, err := c.Services.Builders.Register(ctx, admin, "b1", farm.BuilderSpec{Kind: farm.KindEC2, Arch: "amd64", Pools: []string{farm.DefaultPool}, Slots: 2, BootID: "boot-2"})
			return err
		}), retry: true},
		{name: "acquire_resource", setup: withResource, run: api(func(ctx context.Context, c *crashpoint.Call) error {
			r, err := c.Services.Resources.Acquire(ctx, alice, "gpus", "ci", 0)
			if err == nil {
				c.Answer(func(cs *crashpoint.Clients) { cs.Leases["gpus/gpu-1"] = r.LeaseToken })
			}
			return err
		})},
		{name: "release_resource", setup: steps(withResource, acquire), run: api(release)},

		{name: "dispatch_succeeded_with_follow_ons_and_dependent", setup: steps(queuedAndClaimed(followOns), withDependent, completedBeforeFollowUp(farm.StatusSucceeded)), run: dispatcher},
		{name: "dispatch_failed_with_dependent", setup: steps(queuedAndClaimed(once), withDependent, completedBeforeFollowUp(farm.StatusFailed)), run: dispatcher},
		{name: "dispatch_clean_job_succeeded", setup: steps(cleanJobClaimed, completedBeforeFollowUp(farm.StatusSucceeded)), run: dispatcher},

		{name: "reap_expired_lease", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			queuedAndClaimed(thrice)(t, ctx, f, cs)
			delete(cs.Held, "b1") // the builder vanished
			cs.Gone["b1"] = true
			f.Advance(f.Policy.Lease + f.Policy.Heartbeat)
		}, run: reaperPass},
		{name: "reap_timed_out", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			queuedAndClaimed(shortLived)(t, ctx, f, cs)
			id := cs.Names["job"]
			for range 7 { // heartbeats keep the lease past the job's 60 s
				f.Advance(f.Policy.Heartbeat)
				live(t, ctx, f, cs, func(ctx context.Context, c *crashpoint.Call) error {
					_, err := c.Services.Claims.Heartbeat(ctx, "b1", []claims.HeartbeatJob{{ID: id, ClaimToken: cs.Held["b1"][id]}}, false)
					return err
				})
			}
		}, run: reaperPass},
		{name: "reap_stale_queue", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			// The API died after writing the job, before ringing.
			p := crashpoint.CrashWhen(func(w crashpoint.Write) bool { return w.Kind == "commit" })
			_ = f.Serve(ctx, cs, p, submitting(plain))
			f.Advance(f.Policy.StaleQueueAge)
		}, run: reaperPass},
		{name: "reap_resource_lease", setup: func(t *testing.T, ctx context.Context, f *crashpoint.Farm, cs *crashpoint.Clients) {
			withResource(t, ctx, f, cs)
			acquire(t, ctx, f, cs)
			delete(cs.Leases, "gpus/gpu-1") // its holder vanished
			f.Advance(31 * time.Second)
		}, run: reaperPass},
	}
}
