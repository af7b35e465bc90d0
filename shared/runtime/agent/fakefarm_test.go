package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/sqsdoorbell"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// fakeFarm is just enough of the farm's HTTP API for a builder: register,
// claim from in-memory pool queues, heartbeat with directives, presigned
// artifact uploads to an in-test "S3", and completion fenced by the claim
// token. Tests steer it (cancel a job, steal a claim, forget the builder,
// make claims fail) and read what the builder sent.
type fakeFarm struct {
	t   *testing.T
	srv *httptest.Server

	mu               sync.Mutex
	heartbeatSeconds int
	leaseSeconds     int
	queueURLs        map[string]string
	known            bool              // the builder is registered
	refuse           bool              // registration answers 403 (a token for another builder)
	refuseUploads    bool              // the "S3" answers 403 to every PUT
	refuseArtifacts  bool              // complete answers 400 when it names artifacts
	sources          map[string]string // job id -> source content, served presigned
	registrations    int
	queued           map[string][]*farm.Job // pool -> jobs
	jobs             map[string]*fakeJob
	claims           int
	claimLog         []string      // each claim's answer: a job id, "204", "404" or "500"
	claimFailures    int           // the next claims answer 500
	hint             *bool         // more_queued in every claim answer (nil: whether jobs stay queued)
	omitHint         bool          // claim answers carry no more_queued (a farm older than it)
	claimHold        chan struct{} // when set, claims wait for it after deciding their answer
	completeHold     chan struct{} // when set, completions wait for it before they are decided
	beatHold         chan struct{} // when set, heartbeats wait for it after deciding their answer
	completing       int           // completions received so far (held ones included)
	drain            bool
	reregister       bool // the next heartbeat asks to register again
	heartbeats       []apiv1.HeartbeatRequest
	conflicts        int
	uploads          map[string][]byte // object key -> body
	puts             map[string]int    // object key -> PUTs received
	urlRequests      int               // POST /v1/jobs/{id}/artifacts calls
	completions      []completion
}

// fakeJob is a job the fake has handed out.
type fakeJob struct {
	job        *farm.Job
	token      string
	status     farm.JobStatus
	cancelWhy  string
	log        strings.Builder
	done       bool
	lastResult string
	// claimed and version are the job's version at its claim and now
	// (each renewal moves it on, as the farm's does).
	claimed, version int64
}

// completion is one complete call and the fake's answer.
type completion struct {
	JobID    string
	Req      apiv1.CompleteRequest
	Status   int
	Accepted bool
}

func newFakeFarm(t *testing.T, pools ...string) *fakeFarm {
	t.Helper()
	f := &fakeFarm{
		t: t, heartbeatSeconds: 1, leaseSeconds: 3,
		queueURLs: map[string]string{},
		queued:    map[string][]*farm.Job{},
		jobs:      map[string]*fakeJob{},
		uploads:   map[string][]byte{},
		puts:      map[string]int{},
		sources:   map[string]string{},
	}
	for _, p := range pools {
		f.queueURLs[p] = "fake://queue/" + p
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/builders/{name}", f.register)
	mux.HandleFunc("POST /v1/builders/{name}/claim", f.claim)
	mux.HandleFunc("POST /v1/builders/{name}/heartbeat", f.heartbeat)
	mux.HandleFunc("POST /v1/jobs/{id}/artifacts", f.artifactURL)
	mux.HandleFunc("POST /v1/jobs/{id}/complete", f.complete)
	mux.HandleFunc("PUT /s3/{key...}", f.s3Put)
	mux.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.TokenRequest
		if !decode(w, r, &req) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer admin-token" || req.Role != "builder" || req.Builder == "" {
			fail(w, 403, farm.EForbidden, "admins only")
			return
		}
		reply(w, 201, apiv1.TokenResponse{Token: "tok-" + req.Builder, ID: req.Builder, Role: req.Role, Builder: req.Builder})
	})
	mux.HandleFunc("GET /src/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		body, ok := f.sources[r.PathValue("id")]
		f.mu.Unlock()
		if !ok || r.URL.Query().Get("X-Amz-Signature") == "" {
			http.Error(w, "NoSuchKey", 404)
			return
		}
		io.WriteString(w, body)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	reply(w, status, apiv1.ErrorBody{Error: apiv1.ErrorDetail{Code: code, Message: msg}})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, 400, farm.EInvalid, err.Error())
		return false
	}
	return true
}

func (f *fakeFarm) register(w http.ResponseWriter, r *http.Request) {
	var spec farm.BuilderSpec
	if !decode(w, r, &spec) {
		return
	}
	if err := spec.Validate(); err != nil {
		fail(w, 400, farm.EInvalid, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if want := "Bearer tok-" + r.PathValue("name"); r.Header.Get("Authorization") != want && r.Header.Get("Authorization") != "Bearer builder-token" {
		fail(w, 403, farm.EForbidden, "this token acts for another builder")
		return
	}
	if f.refuse {
		fail(w, 403, farm.EForbidden, "this token acts for another builder")
		return
	}
	f.known = true
	f.registrations++
	urls := map[string]string{}
	for _, p := range spec.Pools {
		if u, ok := f.queueURLs[p]; ok {
			urls[p] = u
		}
	}
	reply(w, 200, apiv1.BuilderRegistration{
		Builder:   &farm.Builder{Name: r.PathValue("name"), Kind: spec.Kind, Arch: spec.Arch, Pools: spec.Pools, Slots: spec.Slots, State: farm.BuilderIdle},
		QueueURLs: urls, HeartbeatSeconds: f.heartbeatSeconds, LeaseSeconds: f.leaseSeconds,
	})
}

func (f *fakeFarm) claim(w http.ResponseWriter, r *http.Request) {
	var req apiv1.ClaimRequest
	if !decode(w, r, &req) {
		return
	}
	// The answer is decided first (the queue as read), then held while
	// the test says (claimHold), then sent.
	status, resp, hold := f.answerClaim(r.PathValue("name"), req.Pool)
	if hold != nil {
		<-hold
	}
	switch status {
	case 200:
		reply(w, 200, resp)
	case 204:
		w.WriteHeader(http.StatusNoContent)
	case 404:
		fail(w, 404, farm.ENotFound, "no builder "+r.PathValue("name"))
	default:
		fail(w, 500, farm.EInternal, "internal error")
	}
}

// answerClaim claims the first queued job of pool for builder, and says
// whether more stay queued (or what hint forces).
func (f *fakeFarm) answerClaim(builder, pool string) (int, *apiv1.ClaimResponse, chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims++
	hold := f.claimHold
	if f.claimFailures > 0 {
		f.claimFailures--
		f.claimLog = append(f.claimLog, "500")
		return 500, nil, hold
	}
	if !f.known {
		f.claimLog = append(f.claimLog, "404")
		return 404, nil, hold
	}
	q := f.queued[pool]
	if len(q) == 0 {
		f.claimLog = append(f.claimLog, "204")
		return 204, nil, hold
	}
	job := q[0]
	f.queued[pool] = q[1:]
	f.claimLog = append(f.claimLog, job.ID)
	job.Attempts++
	job.Status = farm.StatusRunning
	job.Builder = builder
	job.Version++
	job.Run++
	fj := &fakeJob{job: job, token: farm.NewSecret(8), status: farm.StatusRunning, claimed: job.Version, version: job.Version}
	f.jobs[job.ID] = fj
	more := len(f.queued[pool]) > 0
	if f.hint != nil {
		more = *f.hint
	}
	resp := &apiv1.ClaimResponse{Job: job, ClaimToken: fj.token, LeaseExpiresAt: time.Now().Add(time.Duration(f.leaseSeconds) * time.Second), MoreQueued: &more}
	if f.omitHint {
		resp.MoreQueued = nil
	}
	if _, ok := f.sources[job.ID]; ok {
		resp.SourceURL = f.srv.URL + "/src/" + job.ID + "?X-Amz-Signature=fake"
	}
	logKey := fmt.Sprintf("logs/%s/%d.log", job.ID, job.Attempts)
	resp.LogUpload = &apiv1.ArtifactURL{Name: job.ID + ".log", Key: logKey, URL: f.srv.URL + "/s3/" + logKey + "?X-Amz-Signature=fake", Method: "PUT",
		Headers: map[string]string{"X-Fake-Presigned": "yes"}, ExpiresAt: time.Now().Add(time.Hour)}
	return 200, resp, hold
}

func (f *fakeFarm) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req apiv1.HeartbeatRequest
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	hold := f.beatHold
	defer func() {
		f.mu.Unlock()
		if hold != nil {
			<-hold // the answer is decided; it is written only after
		}
	}()
	if !f.known {
		fail(w, 404, farm.ENotFound, "no builder "+r.PathValue("name"))
		return
	}
	f.heartbeats = append(f.heartbeats, req)
	resp := apiv1.HeartbeatResponse{
		LeaseExpiresAt: time.Now().Add(time.Duration(f.leaseSeconds) * time.Second), Drain: f.drain,
		HeartbeatSeconds: f.heartbeatSeconds, LeaseSeconds: f.leaseSeconds, Directives: []apiv1.Directive{},
	}
	stale := false
	for _, hj := range req.Jobs {
		fj := f.jobs[hj.ID]
		switch {
		case fj == nil || fj.token != hj.ClaimToken || fj.done:
			stale = true
			resp.Directives = append(resp.Directives, apiv1.Directive{JobID: hj.ID, Action: apiv1.ActionCancel, Reason: "stale claim", ClaimLost: true})
		default:
			fj.version++
			resp.Renewed = append(resp.Renewed, apiv1.RenewedJob{JobID: hj.ID, Version: fj.version})
			fj.log.WriteString(hj.Log)
			if fj.status == farm.StatusCancelling {
				resp.Directives = append(resp.Directives, apiv1.Directive{JobID: hj.ID, Action: apiv1.ActionCancel, Reason: fj.cancelWhy})
			}
		}
	}
	if f.reregister {
		f.reregister = false
		resp.Directives = append(resp.Directives, apiv1.Directive{Action: apiv1.ActionReregister, Reason: "test"})
	}
	if stale {
		f.conflicts++
		var body apiv1.HeartbeatConflict
		body.Error = apiv1.ErrorDetail{Code: farm.EConflict, Message: "stale claim"}
		body.HeartbeatResponse = resp
		reply(w, http.StatusConflict, body)
		return
	}
	reply(w, 200, resp)
}

func (f *fakeFarm) artifactURL(w http.ResponseWriter, r *http.Request) {
	var req apiv1.ArtifactURLRequest
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urlRequests++
	id := r.PathValue("id")
	fj := f.jobs[id]
	if fj == nil || fj.token != req.ClaimToken || fj.done {
		fail(w, 409, farm.EConflict, "stale claim")
		return
	}
	key := "artifacts/" + id + "/" + req.Name
	if req.Kind == "log" {
		key = "logs/" + id + "/" + req.Name
	}
	reply(w, 200, apiv1.ArtifactURL{
		Name: req.Name, Key: key, URL: f.srv.URL + "/s3/" + key + "?X-Amz-Signature=fake", Method: "PUT",
		Headers: map[string]string{"X-Fake-Presigned": "yes"}, ExpiresAt: time.Now().Add(time.Hour),
	})
}

func (f *fakeFarm) s3Put(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	refuse := f.refuseUploads
	f.mu.Unlock()
	if refuse || r.Header.Get("X-Fake-Presigned") != "yes" || r.Header.Get("Authorization") != "" || r.ContentLength < 0 {
		http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.uploads[r.PathValue("key")] = body
	f.puts[r.PathValue("key")]++
	f.mu.Unlock()
}

func (f *fakeFarm) complete(w http.ResponseWriter, r *http.Request) {
	var req apiv1.CompleteRequest
	if !decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	f.mu.Lock()
	f.completing++
	hold := f.completeHold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	c := completion{JobID: id, Req: req}
	fj := f.jobs[id]
	switch {
	case fj == nil || fj.token != req.ClaimToken || fj.done:
		c.Status = 409
		fail(w, 409, farm.EConflict, "stale or foreign claim token")
	case f.refuseArtifacts && len(req.Artifacts) > 0:
		c.Status = 400
		fail(w, 400, farm.EInvalid, "artifacts[0]: was not uploaded")
	case req.Result == "cancelled" && fj.status != farm.StatusCancelling:
		c.Status = 400
		fail(w, 400, farm.EInvalid, "cancelled is only a result for a job being cancelled")
	default:
		c.Status, c.Accepted = 200, true
		fj.done, fj.lastResult = true, req.Result
		fj.status = farm.JobStatus(req.Result)
		if req.LogComplete {
			fj.log.Reset() // the whole log
		}
		fj.log.WriteString(req.Log)
		fj.job.Status = fj.status
		reply(w, 200, fj.job)
	}
	f.completions = append(f.completions, c)
	f.mu.Unlock()
}

// push queues a job of typ with payload on pool.
func (f *fakeFarm) push(pool, typ string, payload any, timeoutSeconds int) *farm.Job {
	f.t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	job := &farm.Job{ID: farm.NewID(time.Now()), Type: typ, Pool: pool, Status: farm.StatusQueued, Payload: raw, TimeoutSeconds: timeoutSeconds, MaxAttempts: 3}
	f.mu.Lock()
	f.queued[pool] = append(f.queued[pool], job)
	f.mu.Unlock()
	return job
}

func (f *fakeFarm) script(pool, script string, env map[string]string) *farm.Job {
	return f.push(pool, farm.TypeScript, farm.ScriptArgs{Script: script, Env: env}, 300)
}

// cancel asks for a running job to stop, as POST /v1/jobs/{id}/cancel does.
func (f *fakeFarm) cancel(id, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[id].status = farm.StatusCancelling
	f.jobs[id].cancelWhy = why
}

// stealClaim gives a running job to another builder: the builder's claim goes stale.
func (f *fakeFarm) stealClaim(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[id].token = "someone-else"
}

// awaitCompletion waits for the builder's final complete call for job id
// (accepted, or refused as stale) and returns it.
func (f *fakeFarm) awaitCompletion(id string) completion {
	f.t.Helper()
	var got completion
	f.waitFor("the completion of job "+id, func() bool {
		for _, c := range f.completions {
			if c.JobID == id && c.Status != 400 {
				got = c
				return true
			}
		}
		return false
	})
	return got
}

// waitFor polls cond (under the fake's lock) until it holds.
func (f *fakeFarm) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fakeFarm) locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// fakeBells is an in-memory SQS: one channel of doorbells per queue URL.
type fakeBells struct {
	mu          sync.Mutex
	queues      map[string]chan sqsdoorbell.Message
	deleted     map[string]bool // receipt handles
	seq         int
	receiveErrs int
	inReceive   int
	// receiveTime is how long a receive takes to deliver a doorbell (an
	// SQS round trip); none by default.
	receiveTime time.Duration
}

func newFakeBells(f *fakeFarm) *fakeBells {
	b := &fakeBells{queues: map[string]chan sqsdoorbell.Message{}, deleted: map[string]bool{}}
	for _, u := range f.queueURLs {
		b.queues[u] = make(chan sqsdoorbell.Message, 100)
	}
	return b
}

// ring sends a doorbell for jobID to pool's queue and returns its receipt handle.
func (b *fakeBells) ring(f *fakeFarm, pool, jobID string) string {
	b.mu.Lock()
	b.seq++
	receipt := fmt.Sprintf("receipt-%d", b.seq)
	q := b.queues[f.queueURLs[pool]]
	b.mu.Unlock()
	q <- sqsdoorbell.Message{Doorbell: apiv1.Doorbell{Kind: apiv1.DoorbellKind, Pool: pool, JobID: jobID}, QueueURL: f.queueURLs[pool], ReceiptHandle: receipt, Receives: 1}
	return receipt
}

func (b *fakeBells) Receive(ctx context.Context, queueURL string, wait time.Duration, limit int) ([]sqsdoorbell.Message, error) {
	b.mu.Lock()
	q := b.queues[queueURL]
	if b.receiveErrs > 0 {
		b.receiveErrs--
		b.mu.Unlock()
		return nil, fmt.Errorf("sqsdoorbell: receive: connection refused")
	}
	b.inReceive++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inReceive--
		b.mu.Unlock()
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case m := <-q:
		b.mu.Lock()
		took := b.receiveTime
		b.mu.Unlock()
		time.Sleep(took)
		return []sqsdoorbell.Message{m}, nil
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *fakeBells) Delete(ctx context.Context, m sqsdoorbell.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleted[m.ReceiptHandle] = true
	return nil
}

// Release makes the doorbell visible again, as ChangeMessageVisibility(0) does.
func (b *fakeBells) Release(ctx context.Context, m sqsdoorbell.Message) error {
	b.mu.Lock()
	q := b.queues[m.QueueURL]
	b.mu.Unlock()
	select {
	case q <- m:
	default:
	}
	return nil
}

func (b *fakeBells) wasDeleted(receipt string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deleted[receipt]
}
