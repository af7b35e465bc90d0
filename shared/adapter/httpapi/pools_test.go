package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/adapter/httpapi"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// newPool creates pool name with n free resources r0..r(n-1).
func (e *env) newPool(name string, n int) {
	e.t.Helper()
	e.must(http.StatusCreated, admin, "PUT", "/v1/resource-pools/"+name, map[string]any{"clean_script": "echo clean"}, nil)
	for i := range n {
		e.must(http.StatusCreated, admin, "POST", "/v1/resource-pools/"+name+"/resources", map[string]any{"name": fmt.Sprintf("r%d", i)}, nil)
	}
}

// acquire takes a resource of pool as who.
func (e *env) acquire(who, pool, holder string) *apiv1.AcquireResponse {
	e.t.Helper()
	var acq apiv1.AcquireResponse
	e.must(http.StatusOK, who, "POST", "/v1/resource-pools/"+pool+"/acquire", map[string]any{"holder": holder}, &acq)
	return &acq
}

func (e *env) pool(name string) *apiv1.ResourcePoolView {
	e.t.Helper()
	var v apiv1.ResourcePoolView
	e.must(http.StatusOK, submitterB, "GET", "/v1/resource-pools/"+name, nil, &v)
	return &v
}

func TestPutResourcePool(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var p farm.ResourcePool
	e.must(http.StatusCreated, admin, "PUT", "/v1/resource-pools/ppas", map[string]any{"description": "test PPAs", "clean_script": "rm -rf /srv/ppa/*"}, &p)
	if p.Name != "ppas" || p.Description != "test PPAs" || p.CleanScript != "rm -rf /srv/ppa/*" || p.LeaseSeconds != 3600 || p.Version != 1 {
		t.Fatalf("created %+v", p)
	}
	// An update keeps the fields it leaves out.
	e.must(http.StatusOK, admin, "PUT", "/v1/resource-pools/ppas", map[string]any{"lease_seconds": 60}, &p)
	if p.LeaseSeconds != 60 || p.Description != "test PPAs" || p.CleanScript != "rm -rf /srv/ppa/*" || p.Version != 2 {
		t.Fatalf("updated %+v", p)
	}
	e.must(http.StatusOK, admin, "PUT", "/v1/resource-pools/ppas", `{}`, &p)
	if p.LeaseSeconds != 60 || p.Version != 3 {
		t.Fatalf("empty update %+v", p)
	}

	for _, c := range []struct {
		path  string
		body  any
		field string
	}{
		{"/v1/resource-pools/Bad_Pool", `{}`, "pool"},
		{"/v1/resource-pools/" + strings.Repeat("p", 41), `{}`, "pool"},
		{"/v1/resource-pools/-x", `{"description":"x"}`, "pool"},
		{"/v1/resource-pools/ppas", `{"lease_seconds":0}`, "lease_seconds"},
		{"/v1/resource-pools/ppas", `{"lease_seconds":604801}`, "lease_seconds"},
		{"/v1/resource-pools/ppas", `{"lease_seconds":"60"}`, "lease_seconds"},
		{"/v1/resource-pools/ppas", `{"description":"` + strings.Repeat("d", 1025) + `"}`, "description"},
		{"/v1/resource-pools/ppas", `{"clean_script":"` + strings.Repeat("s", 64<<10+1) + `"}`, "clean_script"},
		{"/v1/resource-pools/ppas", `{"resources":[]}`, "resources"},
		{"/v1/resource-pools/ppas", nil, ""},
		{"/v1/resource-pools/ppas", `{"description":`, ""},
	} {
		expectError(t, e.do(admin, "PUT", c.path, c.body), http.StatusBadRequest, farm.EInvalid, c.field)
	}
	// The refusals changed nothing.
	if v := e.pool("ppas"); v.LeaseSeconds != 60 || v.Version != 3 {
		t.Fatalf("pool after refusals %+v", v.ResourcePool)
	}
	big := `{"description":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`
	expectError(t, e.do(admin, "PUT", "/v1/resource-pools/ppas", big), http.StatusRequestEntityTooLarge, farm.ETooLarge, "")
	expectError(t, e.do(submitterA, "PUT", "/v1/resource-pools/ppas", `{}`), http.StatusForbidden, farm.EForbidden, "")
}

func TestAddResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newPool("ppas", 0)
	var r farm.Resource
	e.must(http.StatusCreated, admin, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "ppa-1", "attributes": map[string]string{"url": "ppa:test/1"}}, &r)
	if r.Pool != "ppas" || r.Name != "ppa-1" || r.State != farm.ResourceFree || r.Attributes["url"] != "ppa:test/1" || r.Holder != "" {
		t.Fatalf("added %+v", r)
	}
	expectError(t, e.do(admin, "POST", "/v1/resource-pools/ppas/resources", map[string]any{"name": "ppa-1"}), http.StatusConflict, farm.EConflict, "")
	expectError(t, e.do(admin, "POST", "/v1/resource-pools/nope/resources", map[string]any{"name": "x"}), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "POST", "/v1/resource-pools/Not%20A%20Pool/resources", map[string]any{"name": "x"}), http.StatusNotFound, farm.ENotFound, "")

	tooMany := map[string]string{}
	for i := range 33 {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"name": "bad name"}, "name"},
		{map[string]any{"name": "a/b"}, "name"},
		{map[string]any{"name": strings.Repeat("n", 129)}, "name"},
		{map[string]any{"name": "x", "attributes": tooMany}, "attributes"},
		{map[string]any{"name": "x", "attributes": map[string]string{"": "v"}}, "attributes"},
		{map[string]any{"name": "x", "attributes": map[string]string{strings.Repeat("k", 129): "v"}}, "attributes"},
		{map[string]any{"name": "x", "attributes": map[string]string{"k": strings.Repeat("v", 1025)}}, "attributes.k"},
		{`{"name":"x","attributes":{"k":1}}`, "attributes"},
		{`{"name":"x","state":"used"}`, "state"},
		{`{"name":"x"} {}`, ""},
		{nil, ""},
	} {
		expectError(t, e.do(admin, "POST", "/v1/resource-pools/ppas/resources", c.body), http.StatusBadRequest, farm.EInvalid, c.field)
	}
	if v := e.pool("ppas"); len(v.Resources) != 1 {
		t.Fatalf("resources after refusals: %+v", v.Resources)
	}
}

func TestGetResourcePool(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(http.StatusCreated, admin, "PUT", "/v1/resource-pools/empty", `{}`, nil)
	w := e.must(http.StatusOK, builder1, "GET", "/v1/resource-pools/empty", nil, nil)
	if !strings.Contains(w.Body.String(), `"resources":[]`) {
		t.Fatalf("an empty pool lists no resources as []: %s", w.Body)
	}

	e.newPool("ppas", 3)
	acq := e.acquire(submitterA, "ppas", "ci-run-7")
	w = e.must(http.StatusOK, builder1, "GET", "/v1/resource-pools/ppas", nil, nil)
	if strings.Contains(w.Body.String(), acq.LeaseToken) || strings.Contains(w.Body.String(), "lease_token") {
		t.Fatalf("the pool view shows a lease token: %s", w.Body)
	}
	var v apiv1.ResourcePoolView
	decodeInto(t, w, &v)
	if v.Name != "ppas" || v.CleanScript != "echo clean" || len(v.Resources) != 3 {
		t.Fatalf("view %+v", v)
	}
	for i, r := range v.Resources {
		if r.Name != fmt.Sprintf("r%d", i) {
			t.Fatalf("resources not by name: %+v", v.Resources)
		}
		used := r.Name == acq.Resource.Name
		switch {
		case used && (r.State != farm.ResourceUsed || r.Holder != "ci-run-7" || r.AcquiredBy != e.actors[submitterA] || r.LeaseExpiresAt == nil):
			t.Fatalf("held resource %+v", r)
		case !used && (r.State != farm.ResourceFree || r.Holder != "" || r.AcquiredBy != ""):
			t.Fatalf("free resource %+v", r)
		}
	}

	expectError(t, e.do(admin, "GET", "/v1/resource-pools/nope", nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "GET", "/v1/resource-pools/NOPE", nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(admin, "GET", "/v1/resource-pools/"+strings.Repeat("p", 41), nil), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(none, "GET", "/v1/resource-pools/ppas", nil), http.StatusUnauthorized, farm.EUnauthorized, "")
}

func TestAcquireResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newPool("ppas", 2)
	before := time.Now()
	var acq apiv1.AcquireResponse
	w := e.must(http.StatusOK, submitterA, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "ci-1", "lease_seconds": 120}, &acq)
	r := acq.Resource
	if r == nil || r.State != farm.ResourceUsed || r.Holder != "ci-1" || r.AcquiredBy != e.actors[submitterA] || acq.LeaseToken == "" {
		t.Fatalf("acquired %s", w.Body)
	}
	if r.LeaseExpiresAt == nil || !r.LeaseExpiresAt.Equal(acq.LeaseExpiresAt) {
		t.Fatalf("lease_expires_at %v, resource's %v", acq.LeaseExpiresAt, r.LeaseExpiresAt)
	}
	if d := acq.LeaseExpiresAt.Sub(before); d < 119*time.Second || d > 125*time.Second {
		t.Fatalf("a 120 s lease expires in %v", d)
	}
	// Without lease_seconds the pool's lease applies; an admin may acquire too.
	before = time.Now()
	second := e.acquire(admin, "ppas", "ops")
	if second.Resource.Name == r.Name || second.LeaseToken == acq.LeaseToken || second.Resource.AcquiredBy != "admin" {
		t.Fatalf("second acquire %+v (first %s)", second.Resource, r.Name)
	}
	if d := second.LeaseExpiresAt.Sub(before); d < 3599*time.Second || d > 3605*time.Second {
		t.Fatalf("the pool's default lease expires in %v", d)
	}

	d := expectError(t, e.do(submitterB, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "ci-3"}), http.StatusConflict, farm.ENoneFree, "")
	if !strings.Contains(d.Message, "ppas") {
		t.Fatalf("none_free message %q", d.Message)
	}
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/nope/acquire", map[string]any{"holder": "x"}), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/No_Pool/acquire", map[string]any{"holder": "x"}), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(builder1, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "x"}), http.StatusForbidden, farm.EForbidden, "")
	for _, c := range []struct {
		body  any
		field string
	}{
		{`{}`, "holder"},
		{map[string]any{"holder": "  "}, "holder"},
		{map[string]any{"holder": strings.Repeat("h", 257)}, "holder"},
		{map[string]any{"holder": "x", "lease_seconds": -1}, "lease_seconds"},
		{map[string]any{"holder": "x", "lease_seconds": 604801}, "lease_seconds"},
		{map[string]any{"holder": "x", "lease_seconds": 1.5}, "lease_seconds"},
		{map[string]any{"holder": "x", "resource": "r0"}, "resource"},
		{nil, ""},
	} {
		expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/ppas/acquire", c.body), http.StatusBadRequest, farm.EInvalid, c.field)
	}
}

// TestConcurrentAcquires: 30 callers race for 5 resources through the API;
// exactly 5 win, each a different resource, and 25 are told none_free.
func TestConcurrentAcquires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newPool("ppas", 5)
	const callers = 30
	type answer struct {
		status int
		body   []byte
	}
	answers := make([]answer, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		who := []string{submitterA, submitterB, admin}[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			w := e.serve(request("POST", "/v1/resource-pools/ppas/acquire", e.tokens[who], map[string]any{"holder": fmt.Sprintf("holder-%02d", i)}))
			answers[i] = answer{w.Code, w.Body.Bytes()}
		}()
	}
	close(start)
	wg.Wait()

	won := map[string]string{} // resource -> holder
	tokens := map[string]bool{}
	noneFree := 0
	for i, a := range answers {
		switch a.status {
		case http.StatusOK:
			var acq apiv1.AcquireResponse
			if err := json.Unmarshal(a.body, &acq); err != nil {
				t.Fatal(err)
			}
			holder := fmt.Sprintf("holder-%02d", i)
			if prev, dup := won[acq.Resource.Name]; dup {
				t.Errorf("%s handed to both %s and %s", acq.Resource.Name, prev, holder)
			}
			if acq.Resource.Holder != holder || acq.LeaseToken == "" || tokens[acq.LeaseToken] {
				t.Errorf("acquire %d: %s", i, a.body)
			}
			won[acq.Resource.Name], tokens[acq.LeaseToken] = holder, true
		case http.StatusConflict:
			var body apiv1.ErrorBody
			if err := json.Unmarshal(a.body, &body); err != nil || body.Error.Code != farm.ENoneFree {
				t.Errorf("acquire %d: 409 %s, want none_free", i, a.body)
			}
			noneFree++
		default:
			t.Errorf("acquire %d: %d %s", i, a.status, a.body)
		}
	}
	if len(won) != 5 || noneFree != callers-5 {
		t.Fatalf("%d resources handed out, %d told none_free; want 5 and %d", len(won), noneFree, callers-5)
	}
	for _, r := range e.pool("ppas").Resources {
		if r.State != farm.ResourceUsed || r.Holder != won[r.Name] {
			t.Fatalf("resource %+v, holder by the answers %q", r, won[r.Name])
		}
	}
}

func TestReleaseResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newPool("ppas", 2)
	acq := e.acquire(submitterA, "ppas", "ci-1")
	path := "/v1/resource-pools/ppas/resources/" + acq.Resource.Name + "/release"
	token := map[string]string{"lease_token": acq.LeaseToken}

	// Refusals first; none changes the resource.
	expectError(t, e.do(submitterB, "POST", path, token), http.StatusForbidden, farm.EForbidden, "")
	expectError(t, e.do(builder1, "POST", path, token), http.StatusForbidden, farm.EForbidden, "")
	expectError(t, e.do(submitterA, "POST", path, map[string]string{"lease_token": "wrong"}), http.StatusConflict, farm.EConflict, "")
	expectError(t, e.do(admin, "POST", path, map[string]string{"lease_token": "wrong"}), http.StatusConflict, farm.EConflict, "")
	expectError(t, e.do(submitterA, "POST", path, `{}`), http.StatusBadRequest, farm.EInvalid, "lease_token")
	expectError(t, e.do(submitterA, "POST", path, nil), http.StatusBadRequest, farm.EInvalid, "")
	expectError(t, e.do(submitterA, "POST", path, `{"lease_token":"`+acq.LeaseToken+`","force":true}`), http.StatusBadRequest, farm.EInvalid, "force")
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/ppas/resources/nope/release", token), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/ppas/resources/"+strings.Repeat("n", 129)+"/release", token), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/ppas/resources/a%2Fb/release", token), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/other/resources/"+acq.Resource.Name+"/release", token), http.StatusNotFound, farm.ENotFound, "")
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/Bad%20Pool/resources/"+acq.Resource.Name+"/release", token), http.StatusNotFound, farm.ENotFound, "")
	for _, r := range e.pool("ppas").Resources {
		if r.Name == acq.Resource.Name && (r.State != farm.ResourceUsed || r.Version != acq.Resource.Version) {
			t.Fatalf("a refused release changed the resource: %+v", r)
		}
	}

	var rel farm.Resource
	e.must(http.StatusOK, submitterA, "POST", path, token, &rel)
	if rel.State != farm.ResourceDirty || rel.CleanJobID == "" || rel.Holder != "" || rel.AcquiredBy != "" || rel.LeaseExpiresAt != nil {
		t.Fatalf("released %+v", rel)
	}
	clean := e.getJob(rel.CleanJobID)
	if clean.Type != farm.TypeCleanResource || clean.Status != farm.StatusQueued || clean.RequestedBy != e.actors[submitterA] {
		t.Fatalf("clean job %+v", clean)
	}
	// The lease token is spent: a repeat is a conflict for the former holder, not a 403.
	expectError(t, e.do(submitterA, "POST", path, token), http.StatusConflict, farm.EConflict, "")
	expectError(t, e.do(submitterB, "POST", path, token), http.StatusConflict, farm.EConflict, "")

	// An admin releases anyone's resource with its token.
	other := e.acquire(submitterB, "ppas", "ci-2")
	e.must(http.StatusOK, admin, "POST", "/v1/resource-pools/ppas/resources/"+other.Resource.Name+"/release", map[string]string{"lease_token": other.LeaseToken}, &rel)
	if rel.State != farm.ResourceDirty || rel.CleanJobID == "" {
		t.Fatalf("released by admin %+v", rel)
	}
	expectError(t, e.do(submitterA, "POST", "/v1/resource-pools/ppas/acquire", map[string]any{"holder": "x"}), http.StatusConflict, farm.ENoneFree, "")
}

// TestResourceCycle runs a resource round the whole cycle through the API:
// free, used, dirty, cleaning (its clean job runs on a builder), free.
func TestResourceCycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register(builder1, "b1")
	e.newPool("ppas", 1)
	state := func() farm.ResourceState { return e.pool("ppas").Resources[0].State }

	acq := e.acquire(submitterA, "ppas", "ci-1")
	var rel farm.Resource
	e.must(http.StatusOK, submitterA, "POST", "/v1/resource-pools/ppas/resources/r0/release", map[string]string{"lease_token": acq.LeaseToken}, &rel)
	if got := state(); got != farm.ResourceDirty {
		t.Fatalf("after release: %s", got)
	}
	c := e.claim()
	if c.Job.ID != rel.CleanJobID {
		t.Fatalf("claimed %s, want the clean job %s", c.Job.ID, rel.CleanJobID)
	}
	if got := state(); got != farm.ResourceCleaning {
		t.Fatalf("while cleaning: %s", got)
	}
	e.must(http.StatusOK, builder1, "POST", "/v1/jobs/"+c.Job.ID+"/complete", map[string]string{"claim_token": c.ClaimToken, "result": "succeeded"}, nil)
	v := e.pool("ppas")
	if r := v.Resources[0]; r.State != farm.ResourceFree || r.CleanJobID != "" {
		t.Fatalf("after cleaning: %+v", r)
	}
	if again := e.acquire(submitterB, "ppas", "ci-2"); again.LeaseToken == acq.LeaseToken {
		t.Fatal("a new acquire reused the old lease token")
	}
}
