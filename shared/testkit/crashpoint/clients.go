package crashpoint

import (
	"context"
	"sort"

	"github.com/buildfarm/buildfarm/shared/app/claims"
	"github.com/buildfarm/buildfarm/shared/farm"
	"github.com/buildfarm/buildfarm/shared/wiring"
)

// Clients is what the farm's clients know: only the answers they got.
// A process that crashed answered nothing.
type Clients struct {
	// Claims are the claims each job was answered with, oldest first.
	Claims map[string][]Grant
	// Held is, per builder, the jobs it runs and their claim tokens.
	Held map[string]map[string]string
	// Leases are the resource leases held ("pool/name" → lease token).
	Leases map[string]string
	// Keys are the jobs idempotency keys were answered with.
	Keys map[string]string
	// Names are a scenario's jobs by name.
	Names map[string]string
	// Gone are the builders whose agents vanished: they send nothing more.
	Gone map[string]bool
	// Presumed is, per job, what its builder's agent last learnt of it
	// (its claim answer, its heartbeat answers): its completion presumes it.
	Presumed map[string]farm.Presumed
}

// Report is the completion an agent sends for job id it runs under token:
// presuming the job as the farm's answers last showed it.
func (cs *Clients) Report(id, token string, result farm.JobStatus) claims.Report {
	r := claims.Report{ClaimToken: token, Result: string(result)}
	if p := cs.Presumed[id]; p.ClaimToken == token {
		r.Version, r.Run = p.Version, p.Run
	}
	return r
}

func newClients() *Clients {
	return &Clients{Claims: map[string][]Grant{}, Held: map[string]map[string]string{}, Leases: map[string]string{}, Keys: map[string]string{}, Names: map[string]string{}, Gone: map[string]bool{}, Presumed: map[string]farm.Presumed{}}
}

// Grant is a claim a builder was answered with.
type Grant struct{ Builder, Token string }

// Call is one request (or invocation) served by a process: what it
// answers reaches its client only if the process lives to answer.
type Call struct {
	Farm     *Farm
	Services *wiring.Services
	Clients  *Clients
	answers  []func()
}

// Answer applies what the client learns from the call's answer, once the
// call has returned from a live process.
func (c *Call) Answer(learn func(*Clients)) {
	c.answers = append(c.answers, func() { learn(c.Clients) })
}

// Claimed is the answer to a claim: builder runs the job under its token.
func (c *Call) Claimed(builder string, cl *claims.Claim) {
	if cl == nil {
		return
	}
	id, token := cl.Job.ID, cl.Job.ClaimToken
	presumed := farm.Presumed{ClaimToken: token, Version: cl.Job.Version, Run: cl.Job.Run}
	c.Answer(func(cs *Clients) {
		cs.Presumed[id] = presumed
		cs.Claims[id] = append(cs.Claims[id], Grant{Builder: builder, Token: token})
		if cs.Held[builder] == nil {
			cs.Held[builder] = map[string]string{}
		}
		cs.Held[builder][id] = token
	})
}

// Done is the answer to a completion or hand-back: builder no longer
// runs the job.
func (c *Call) Done(builder, id string) {
	c.Answer(func(cs *Clients) { delete(cs.Held[builder], id) })
}

// Serve runs one call in process p over the farm; the clients learn its
// answers only if p is still alive when it returns.
func (f *Farm) Serve(ctx context.Context, cs *Clients, p *Process, do func(context.Context, *Call) error) error {
	c := &Call{Farm: f, Services: f.Start(p), Clients: cs}
	err := do(ctx, c)
	if p.Dead() {
		return ErrCrashed
	}
	for _, a := range c.answers {
		a()
	}
	return err
}

// Builder acts for the farm-builder agents in the clients' place.
func Builder(name string) farm.Principal {
	return farm.Principal{Role: farm.RoleBuilder, Builder: name}
}

// heartbeats is every agent's heartbeat, as the agents send them: the jobs
// each runs. A job whose claim is lost is stopped; a job being cancelled
// is stopped and reported cancelled.
func (f *Farm) heartbeats(ctx context.Context, cs *Clients) error {
	names, err := f.agents(ctx, cs)
	if err != nil {
		return err
	}
	for _, name := range names {
		var jobs []claims.HeartbeatJob
		for id, token := range cs.Held[name] {
			jobs = append(jobs, claims.HeartbeatJob{ID: id, ClaimToken: token})
		}
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].ID < jobs[j].ID })
		err := f.Serve(ctx, cs, Live(), func(ctx context.Context, c *Call) error {
			res, err := c.Services.Claims.Heartbeat(ctx, name, jobs, false)
			if err != nil {
				return err
			}
			c.Answer(func(cs *Clients) {
				for _, r := range res.Renewed {
					if p, ok := cs.Presumed[r.JobID]; ok {
						p.Version = r.Version
						cs.Presumed[r.JobID] = p
					}
				}
			})
			for _, d := range res.Directives {
				if d.Action != claims.DirectiveCancel {
					continue
				}
				if d.ClaimLost {
					c.Done(name, d.JobID)
					continue
				}
				token := cs.Held[name][d.JobID]
				if _, err := c.Services.Claims.Complete(ctx, Builder(name), d.JobID, cs.Report(d.JobID, token, farm.StatusCancelled)); err != nil {
					return err
				}
				c.Done(name, d.JobID)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// NewClients is clients that know nothing yet.
func NewClients() *Clients { return newClients() }

// agents are the registered builders whose agents run, by name.
func (f *Farm) agents(ctx context.Context, cs *Clients) ([]string, error) {
	bs, err := f.Mem.ListBuilders(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, b := range bs {
		if !cs.Gone[b.Name] {
			names = append(names, b.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}
